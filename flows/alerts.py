"""Someone is told when a day fails: a Prefect automation on the server (docs, "Alerts when a run fails").

When a run of the day, daily or backfill flow ends Failed, Crashed or TimedOut, the server's trigger
service fires and its action service sends a notification through a saved notification block (Slack,
email, Microsoft Teams, ... any block Prefect ships with the `notify` capability) or a Custom Webhook
block. The message is a Jinja template the server renders with the run itself (`flow_run`, `flow`,
Prefect's `ui_url` filter), as Prefect's own flow-run notifications did before automations replaced them.
Nothing runs in our processes: a run killed with its worker still gets its alert (Crashed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.events.schemas.automations import Automation

AUTOMATION = "whaledr: a run failed"
"""The automation's name on the server: `whaledr alerts` finds its own by it, and sets up one only."""

WATCHED_FLOWS = ("whaledr-day", "whaledr-daily", "whaledr-backfill")
FAILED_STATES = ("Failed", "Crashed", "TimedOut")
"""State names whose events fire it: a run that ended in failure (TimedOut is a Failed state)."""

WEBHOOK_BLOCK = "whaledr-alerts-webhook"
"""The Custom Webhook block `--webhook-url` saves; its URL is kept among the block's secrets."""

SUBJECT = "whaledr: {{ flow_run.name }} {{ flow_run.state.name }}"
BODY = """\
{{ flow.name }} run "{{ flow_run.name }}" ended {{ flow_run.state.name }} at {{ flow_run.state.timestamp }}.
Reason: {{ flow_run.state.message or "(no state message)" }}
Run: {{ flow_run|ui_url or "(set PREFECT_UI_URL in the Prefect server's environment for a link)" }}"""
"""A day run's name is "NODE YYYY-MM-DD" (the hydrophone and the day); a backfill's or daily run's
message names the days that did not complete."""


class AlertError(RuntimeError):
    """The alert cannot be set up as asked (no such block, a block that cannot notify)."""


@dataclass(frozen=True)
class AlertSetup:
    automation_id: UUID
    enabled: bool
    flows: tuple[str, ...]
    states: tuple[str, ...]
    block: str
    """Where the notification goes: the block's type and name, never its URL or secrets."""


def set_up(block_document_id: UUID) -> tuple[AlertSetup, bool]:
    """The automation, created or made the same again (so running it twice leaves one); returns what
    is set up and whether it was created."""
    from prefect.client.orchestration import get_client

    automation = _automation(block_document_id)
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(AUTOMATION)
        for extra in existing[1:]:  # one only, whatever made more
            client.delete_automation(extra.id)
        if existing:
            client.update_automation(existing[0].id, automation)
            automation_id = existing[0].id
        else:
            automation_id = client.create_automation(automation)
        found = client.read_automation(automation_id)
        assert found is not None
        return _described(client, found), not existing


def _automation(block_document_id: UUID):
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    return AutomationCore(
        name=AUTOMATION,
        description="Set up by `whaledr alerts`: a notification when a whaledr day, daily or backfill run fails.",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": list(WATCHED_FLOWS)},
            expect={f"prefect.flow-run.{state}" for state in FAILED_STATES},
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=SUBJECT, body=BODY)],
    )


def listed() -> list[AlertSetup]:
    """What `whaledr alerts` set up on the current server."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return [_described(client, a) for a in client.read_automations_by_name(AUTOMATION)]


def remove() -> tuple[int, bool]:
    """Take the automation away, and the webhook block `--webhook-url` saved; returns (automations
    removed, whether a webhook block was removed). A block the operator named is left alone."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        found = client.read_automations_by_name(AUTOMATION)
        for automation in found:
            client.delete_automation(automation.id)
        try:
            document = client.read_block_document_by_name(WEBHOOK_BLOCK, "custom-webhook", include_secrets=False)
        except ObjectNotFound:
            return len(found), False
        assert document.id is not None
        client.delete_block_document(document.id)
        return len(found), True


def notification_block(name: str) -> UUID:
    """The ID of a saved notification block named `name` ("NAME", or "TYPE-SLUG/NAME" where several
    types hold that name)."""
    from prefect.client.orchestration import get_client

    slug, _, bare = name.rpartition("/")
    with get_client(sync_client=True) as client:
        documents = [d for d in _all_block_documents(client) if d.name == bare
                     and (not slug or (d.block_type is not None and d.block_type.slug == slug))]
    notifying = [d for d in documents if "notify" in (d.block_schema.capabilities if d.block_schema else [])]
    if not notifying:
        if documents:
            raise AlertError(f"block {name!r} cannot send notifications (a {_type(documents[0])} block)")
        raise AlertError(f"no notification block named {name!r} on this Prefect server: create one in the UI "
                         "(Blocks, +: Slack Webhook, Email, Microsoft Teams Webhook, Custom Webhook, ...) or use "
                         "--webhook-url")
    if len(notifying) > 1:
        kinds = ", ".join(f"{d.block_type.slug}/{bare}" for d in notifying if d.block_type)
        raise AlertError(f"several notification blocks are named {bare!r}: say which ({kinds})")
    assert notifying[0].id is not None
    return notifying[0].id


def save_webhook(url: str) -> UUID:
    """A Custom Webhook block that POSTs `{"text": subject + body, "subject": ..., "body": ...}` (the
    `text` field is what Slack-style incoming webhooks read) to `url`, kept among the block's secrets
    so that neither the UI nor the API shows it."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    if not url.startswith(("http://", "https://")):
        raise AlertError("the webhook URL must start with http:// or https://")
    block = CustomWebhookNotificationBlock(
        name="whaledr", url="{{webhook_url}}", method="POST",
        json_data={"text": "{{subject}}\n{{body}}", "subject": "{{subject}}", "body": "{{body}}"},
        secrets={"webhook_url": url})
    return cast(UUID, block.save(WEBHOOK_BLOCK, overwrite=True))


def _described(client: SyncPrefectClient, automation: Automation) -> AlertSetup:
    trigger: Any = automation.trigger
    related = trigger.match_related
    related = related[0] if isinstance(related, list) and related else related
    flows = related.get("prefect.resource.name", []) if hasattr(related, "get") else []
    expected = {e.removeprefix("prefect.flow-run.") for e in getattr(trigger, "expect", set())}
    states = [s for s in FAILED_STATES if s in expected] + sorted(expected - set(FAILED_STATES))
    targets = []
    for action in automation.actions:
        block_id = getattr(action, "block_document_id", None)
        if block_id is None:
            targets.append(action.type)
            continue
        try:
            document = client.read_block_document(block_id, include_secrets=False)
            targets.append(f"{_type(document)} block {document.name!r}")
        except Exception:
            targets.append(f"a block that no longer exists ({block_id})")
    return AlertSetup(automation.id, automation.enabled, tuple([flows] if isinstance(flows, str) else flows),
                      tuple(states), "; ".join(targets))


def _type(document) -> str:
    return document.block_type.name if document.block_type else "unknown"


def _all_block_documents(client: SyncPrefectClient) -> list:
    documents, offset = [], 0
    while True:
        page = client.read_block_documents(offset=offset, limit=200, include_secrets=False)
        documents += page
        if len(page) < 200:
            return documents
        offset += len(page)
