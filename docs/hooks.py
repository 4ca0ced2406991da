"""mkdocs hooks: the pages and tables that come from the code, made at every build so that they cannot drift.

- `reference/cli.md`: every `whaledr` command with its arguments and options, from the typer app itself
  (through click, the parser that reads the command line);
- `reference/parameters.md`: every deployment's parameters and every field of the parameter groups, from
  `prefect.yaml` and the flows' own parameter schemas (what the Prefect UI's run form shows);
- `<!-- generated: NAME -->` in a page is replaced by the table NAME (`TABLES`).

Loaded by mkdocs (`hooks:` in mkdocs.yml) and by tests/test_docs.py; it imports the package, so the site
is built from the installed checkout.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CLI_PAGE = "reference/cli.md"
PARAMETERS_PAGE = "reference/parameters.md"
FLOW_NAMES = {"daily": "whaledr-daily", "backfill": "whaledr-backfill", "day": "whaledr-day"}
"""Deployment name -> flow name, as Prefect names a deployment: `FLOW/DEPLOYMENT`."""
GROUPS = ("output", "app", "downloads", "rendering", "selection")
"""The flows' parameter groups (flows/params.py), in the order the form shows them."""
MARKER = re.compile(r"<!-- generated: ([a-z -]+) -->")


def _cell(text: Any) -> str:
    """A table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str) and value == "":
        return '`""`'
    return f"`{json.dumps(value) if not isinstance(value, str) else value}`"


# --- the command line ----------------------------------------------------------------------------


def cli_group() -> Any:
    """The `whaledr` command as typer's click sees it: the same object that parses a user's command line."""
    import typer.main

    from flows.cli import app

    return typer.main.get_command(app)


def cli_context(command: Any, name: str, parent: Any = None) -> Any:
    from typer import _click  # typer 0.29 carries its own click

    return _click.Context(command, info_name=name, parent=parent)


def cli_reference() -> str:
    """The page: one section per command, in the order `whaledr --help` lists them, each option as its
    `--help` shows it (names, type, help and default)."""
    group = cli_group()
    parent = cli_context(group, "whaledr")
    out = ["# Command line", "",
           "Every `whaledr` command, its arguments and options, as the installed code declares them "
           "(generated from the typer app at each build of this site). `whaledr COMMAND --help` prints "
           "the same in the terminal.", "", "| command | what it does |", "| --- | --- |"]
    names = group.list_commands(parent)
    for name in names:
        short = group.commands[name].get_short_help_str(limit=300)
        out.append(f"| [`whaledr {name}`](#whaledr-{name}) | {_cell(short)} |")
    for name in names:
        command = group.commands[name]
        ctx = cli_context(command, name, parent)
        usage = " ".join(command.collect_usage_pieces(ctx))
        out += ["", f"## whaledr {name}", "", f"```\nwhaledr {name} {usage}\n```", "",
                inspect.cleandoc(command.help or ""), "", "| argument or option | meaning |", "| --- | --- |"]
        for param in command.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or param.name == "help":
                continue
            out.append(f"| `{record[0]}` | {_cell(record[1])} |")
    return "\n".join(out) + "\n"


# --- the flows' parameters -------------------------------------------------------------------------


def deployments() -> list[dict[str, Any]]:
    """The deployments of prefect.yaml, as `prefect deploy --all` reads them."""
    return list(yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"])


def flow_schema(entrypoint: str) -> dict[str, Any]:
    """The flow's parameter schema, as Prefect builds it for the UI's run form (docstring Args included)."""
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(entrypoint).parameters.model_dump()


def _schedule(deployment: dict[str, Any]) -> str:
    crons = [f"cron `{s['cron']}` ({s.get('timezone', 'UTC')})" for s in deployment.get("schedules") or []]
    return ", ".join(crons) or "on request"


def deployments_table() -> str:
    """Each deployment, its schedule and its parameters with the defaults a run starts with (prefect.yaml's
    values over the flow's own)."""
    rows = ["| deployment | schedule | what it runs | parameters (defaults) |", "| --- | --- | --- | --- |"]
    for d in deployments():
        schema = flow_schema(d["entrypoint"])
        given = d.get("parameters") or {}
        params = []
        for name, field in schema["properties"].items():
            if name in GROUPS:
                changed = _changed(name, given.get(name, field.get("default")))
                params.append(f"`{name}`" + (f" ({_cell(changed)})" if changed else ""))
            elif name in schema.get("required", []):
                params.append(f"`{name}` (required)")
            else:
                params.append(f"`{name}` ({_cell(_plain(given.get(name, field.get('default'))))})")
        rows.append(f"| `{FLOW_NAMES[d['name']]}/{d['name']}` | {_schedule(d)} | {_cell(d.get('description', ''))} "
                    f"| {', '.join(params)} |")
    return "\n".join(rows)


def _changed(group: str, given: dict[str, Any] | None) -> str:
    """What a deployment's (or a flow's) default for a group changes from the group's own defaults, as
    `publish top:40+random:10`; empty when nothing."""
    model = _group_models()[group]
    return ", ".join(f"{k} {_plain(v)}" for k, v in (given or {}).items()
                     if k in model.model_fields and v != model.model_fields[k].default)


def _deployments_change(group: str) -> dict[str, set[str]]:
    """Field -> the defaults the deployments' forms start a group's field from, where they differ from the
    group's own (the deployments' safe budget, say)."""
    found: dict[str, set[str]] = {}
    model = _group_models()[group]
    for d in deployments():
        field = flow_schema(d["entrypoint"])["properties"].get(group, {})
        start = {**(field.get("default") or {}), **((d.get("parameters") or {}).get(group) or {})}
        for k, v in start.items():
            if k in model.model_fields and v != model.model_fields[k].default:
                found.setdefault(k, set()).add(_plain(v))
    return found


def _form(info: Any) -> str:
    """What the run form offers beyond the description: its choices, or the examples of a checked text."""
    if "enum" in info:
        return " Choices: " + ", ".join(f"`{v}`" for v in info["enum"]) + "."
    if "examples" in info:
        return " Checked as typed; e.g. " + ", ".join(f"`{v}`" for v in info["examples"]) + "."
    return ""


def _plain(value: Any) -> str:
    """A default as a person reads it in a table: none, false, empty, [LJ01D]."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if value == "":
        return "empty"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def run_options() -> dict[str, str]:
    """Parameter group field -> the `whaledr run` option that sets it."""
    from flows.cli.options import OPTION_OF_FIELD

    run = cli_group().commands["run"]
    opts = {o for p in run.params for o in [*p.opts, *p.secondary_opts]}
    found: dict[str, str] = {}
    for name in _group_models():
        for field in _group_models()[name].model_fields:
            option = OPTION_OF_FIELD.get(field, "--" + field.replace("_", "-"))
            if all(part in opts for part in option.split("/")):
                found[f"{name}.{field}"] = option
    found["rendering.db_policy"] = "--contrast/--db-range"
    return found


def _group_models() -> dict[str, Any]:
    from flows import params

    return {"output": params.Output, "app": params.App, "downloads": params.Downloads,
            "rendering": params.Rendering, "selection": params.Selection}


def groups_table() -> str:
    """The form's groups, their fields with defaults, and the `whaledr run` options that set them."""
    options = run_options()
    rows = ["| group | fields (defaults) | `whaledr run` options |", "| --- | --- | --- |"]
    for name, model in _group_models().items():
        elsewhere = _deployments_change(name)
        fields = ", ".join(f"`{f}` ({_cell(_plain(info.default))}"
                           + (f"; {' or '.join(sorted(elsewhere[f]))} in the deployments" if f in elsewhere else "")
                           + ")" for f, info in model.model_fields.items())
        opts = list(dict.fromkeys(options[f"{name}.{f}"] for f in model.model_fields if f"{name}.{f}" in options))
        rows.append(f"| `{name}` | {fields} | {', '.join(f'`{o}`' for o in opts) or 'none'} |")
    return "\n".join(rows)


def parameters_reference() -> str:
    """The page: each deployment's parameters, then every field of every group, with its description."""
    out = ["# Flow parameters", "",
           "The parameters of each deployment's run form in the Prefect UI, and of `prefect deployment run "
           "--param`, generated at each build of this site from `prefect.yaml` and the flows' parameter "
           "schemas (the flows' docstrings and `flows/params.py`). A group may be given with only the fields "
           "it changes: `--param 'selection={\"publish\": \"top:40+random:10\"}'`, or in `prefect.yaml` "
           "`output: {s3_block: whaledr-s3}`.", "", "## Deployments", "", deployments_table()]
    for d in deployments():
        schema = flow_schema(d["entrypoint"])
        given = d.get("parameters") or {}
        out += ["", f"## `{FLOW_NAMES[d['name']]}/{d['name']}`", "", _cell(d.get("description", "")), "",
                f"Entry point `{d['entrypoint']}`; schedule: {_schedule(d)}.", "",
                "| parameter | label in the form | default in prefect.yaml | flow's default | meaning |",
                "| --- | --- | --- | --- | --- |"]
        for name, field in schema["properties"].items():
            link = f" ([fields](#{name}))" if name in GROUPS else ""
            flow_default = "required" if name in schema.get("required", []) else _code(field.get("default"))
            if name in GROUPS:
                changed = _changed(name, field.get("default"))
                flow_default = f"the group's, but {changed}" if changed else "the group's"
            here = _code(given[name]) if name in given else ""
            meaning = _cell(field.get("description", "") + _form(field))
            out.append(f"| `{name}` | {_cell(field.get('title', ''))} | {here} | {flow_default} | {meaning}{link} |")
    options = run_options()
    for name, model in _group_models().items():
        elsewhere = _deployments_change(name)
        starts = "; ".join(f"`{k}` {' or '.join(sorted(v))}" for k, v in elsewhere.items())
        note = (f" The deployments' forms start from {starts} (the defaults below are the group's own, and "
                "`whaledr run`'s)." if starts else "")
        out += ["", f"## `{name}`", "", _cell(model.__doc__ or "") + note, "",
                "| field | label in the form | default | `whaledr run` option | meaning |",
                "| --- | --- | --- | --- | --- |"]
        fields = model.model_json_schema()["properties"]
        for field, info in model.model_fields.items():
            option = options.get(f"{name}.{field}")
            meaning = _cell((info.description or "") + _form(fields[field]))
            out.append(f"| `{field}` | {_cell(info.title or '')} | {_code(info.default)} "
                       f"| {f'`{option}`' if option else ''} | {meaning} |")
    return "\n".join(out) + "\n"


# --- mkdocs ----------------------------------------------------------------------------------------

TABLES: dict[str, Callable[[], str]] = {"deployments": deployments_table, "parameter groups": groups_table}


def on_files(files: Any, config: Any) -> Any:
    """Add the generated reference pages to the site."""
    from mkdocs.structure.files import File

    for path, make in ((CLI_PAGE, cli_reference), (PARAMETERS_PAGE, parameters_reference)):
        files.append(File.generated(config, path, content=make()))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Put each generated table where its marker stands; an unknown marker fails the build."""

    def table(m: re.Match[str]) -> str:
        name = m.group(1).strip()
        if name not in TABLES:
            raise ValueError(f"{page.file.src_path}: no generated table {name!r} (known: {', '.join(TABLES)})")
        return TABLES[name]()

    return MARKER.sub(table, markdown)
