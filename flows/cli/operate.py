"""`whaledr alerts` (a notification when a run fails) and `whaledr download-limit` (the bound on downloads
from the OOI server): what a Prefect server running for years is set up with, once (docs, "Run it every
day"). Both act on the server PREFECT_API_URL names; without it, on the local database that `whaledr
serve` uses."""

from __future__ import annotations

from typing import Annotated

import typer

from . import options as o
from .local import quiet


def alerts(
    block: Annotated[str | None, typer.Option(
        help="Send through this saved notification block (Slack Webhook, Email, Microsoft Teams Webhook, ...; "
             "TYPE-SLUG/NAME where several types share the name).")] = None,
    webhook_url: Annotated[str | None, typer.Option(
        envvar="WHALEDR_WEBHOOK_URL", show_envvar=True,
        help="POST to this URL instead (saved as a Custom Webhook block, the URL among its secrets). A URL that "
             "holds a token is better given through the environment than on the command line.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="Show what is set up, and change nothing.")] = False,
    remove: Annotated[bool, typer.Option("--remove", help="Take the alert away (and the webhook block it saved).")]
    = False,
    verbose: o.Verbose = False,
) -> None:
    """Have the Prefect server send a notification whenever a run of the day, daily or backfill flow
    ends Failed, Crashed or TimedOut: the run's name (hydrophone and day), its state, its one-line
    state message and a link to it in the UI. Running it again replaces the alert; it never adds a second."""
    if list_ or remove:  # a WHALEDR_WEBHOOK_URL left in the environment does not get in the way
        if (list_ and remove) or block:
            o.fail("give one of --block NAME, --webhook-url URL (or WHALEDR_WEBHOOK_URL), --list, --remove")
    elif not (block or webhook_url):
        o.fail("give one of --block NAME, --webhook-url URL (or WHALEDR_WEBHOOK_URL), --list, --remove")
    elif block and webhook_url:
        o.fail("--block and a webhook URL (--webhook-url or WHALEDR_WEBHOOK_URL): give one")
    quiet(verbose)
    from ..alerts import WEBHOOK_BLOCK, AlertError, listed, notification_block, save_webhook, set_up
    from ..alerts import remove as remove_alerts
    from ..server import prefect_api

    with prefect_api() as url:
        if list_:
            setups = listed()
            if not setups:
                typer.echo(f"no whaledr alert on {url}; `whaledr alerts --block NAME` or --webhook-url sets one up")
            for s in setups:
                typer.echo(f"{'enabled' if s.enabled else 'PAUSED'}: when a run of {', '.join(s.flows)} ends "
                           f"{_either(s.states)}, notify through {s.block} (automation {s.automation_id})")
            return
        if remove:
            removed, webhook = remove_alerts()
            typer.echo(f"removed {removed} alert automation(s)"
                       + (f" and the webhook block {WEBHOOK_BLOCK!r}" if webhook else "") + f" from {url}")
            return
        try:
            block_id = save_webhook(webhook_url) if webhook_url else notification_block(str(block))
            setup, created = set_up(block_id)
        except AlertError as e:
            o.fail(str(e))
    typer.echo(f"{'set up' if created else 'replaced'}: when a run of {', '.join(setup.flows)} ends "
               f"{_either(setup.states)}, notify through {setup.block}")


def _either(states: tuple[str, ...]) -> str:
    return " or ".join([", ".join(states[:-1]), states[-1]]) if len(states) > 1 else "".join(states)


def download_limit(
    slots: Annotated[int | None, typer.Option(
        help="Downloads from the OOI server in flight at once, over every worker. [default: keep the server's "
             "number; 8 when the limit is created]", min=1)] = None,
    verbose: o.Verbose = False,
) -> None:
    """Create the Prefect global concurrency limit `ooi-downloads` that bounds the downloads of every day
    run on every worker (8 slots unless --slots), or set its slots. `whaledr serve` creates it too; the UI's
    Concurrency page changes it, and a change applies to the next download."""
    quiet(verbose)
    from ..limits import DOWNLOAD_LIMIT, ensure_download_limit
    from ..server import prefect_api

    with prefect_api() as url:
        state = ensure_download_limit(slots)
    typer.echo(f"{DOWNLOAD_LIMIT}: {state.slots} downloads at once{'' if state.active else ' (INACTIVE: no bound)'}, "
               f"{state.in_use} in flight now ({'created' if state.created else 'on'} {url})")
