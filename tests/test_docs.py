"""The documentation cannot lie: every command line it shows parses against the current CLI, every section
the README once held has a page, the README stays a front page, and the generated reference and tables
name exactly what the code declares. (`mkdocs build --strict` in .ci/run catches broken links and pages.)"""

from __future__ import annotations

import importlib.util
import re
import shlex
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"

README_SECTIONS = {
    # Every `## `/`### ` heading of README.md before it became a front page (main, issue 24; with issue 22's
    # "What the UI tells", merged after), and the page under docs/ that holds its text now, under the same heading.
    "What it does": "index.md",
    "Running a day": "run-a-day.md",
    "Output": "run-a-day.md",
    "Where each window's data came from (day manifest)": "run-a-day.md",
    "A clip's provenance (WAV metadata)": "run-a-day.md",
    "Shipping to the app (S3 and Firebase)": "ship.md",
    "Feeding the whaledr app": "app.md",
    "Which clips reach volunteers": "clips.md",
    "The score": "score.md",
    "Low-frequency calls: `--preset low`": "look.md",
    "The budget": "budget.md",
    "The day overview": "overview.md",
    "Calls that stand out on screen: `--contrast floor`": "look.md",
    "Run it every day": "every-day.md",
    "Operate it for years": "every-day.md",
    "What the UI tells": "ui.md",  # added by issue 22 (the Prefect UI), after the split
    "Alerts when a run fails": "alerts.md",
    "A data calendar before a backfill": "calendar.md",
    "Spare the OOI server: one limit on downloads": "download-limit.md",
    "The Prefect server on PostgreSQL": "postgresql.md",
    "Workers on several machines": "workers.md",
    "A year's backfill, step by step": "backfill-a-year.md",
    "How clips are cut": "eras.md",
    "Data from every era": "eras.md",
    "How clips look and sound (defaults and why)": "look.md",
    "A synthetic OOI mirror": "get-started.md",
    "Performance": "performance.md",
    "Code": "architecture.md",
    "Tests": "development.md",
    "Dependencies": "development.md",
    "Reliability": "reliability.md",
    "Known limits": "reliability.md",
}
FIRST_COMMANDS = [  # README's opening commands, unchanged since the project began: demo, then the tests
    "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e . && .venv/bin/whaledr demo",
    "python3 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e '.[test]' && .venv/bin/python -m pytest",
]
README_MAX_LINES = 150


@cache
def hooks() -> ModuleType:
    """docs/hooks.py, the generators mkdocs runs at each build."""
    spec = importlib.util.spec_from_file_location("whaledr_docs_hooks", DOCS / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def outside_fences(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def fenced_lines(text: str) -> list[str]:
    """Lines of code blocks, with `\\` continuations joined."""
    lines, fenced, held = [], False, ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            if line.rstrip().endswith("\\"):
                held += line.rstrip()[:-1] + " "
                continue
            lines.append(held + line)
            held = ""
    return lines


def whaledr_args(line: str) -> list[list[str]]:
    """The argument lists of every `whaledr` (or `.venv/bin/whaledr`) invocation on a shell line: after
    `&&`, `;` or `|`, behind `VAR=value` assignments, comments dropped."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        return []  # not shell (JSON, a log line)
    found, command = [], []
    for token in [*tokens, "&&"]:
        if token in ("&&", ";", "|", "||", "&"):
            while command and re.match(r"^[A-Z_]+=", command[0]):
                command.pop(0)
            if command and (command[0] == "whaledr" or command[0].endswith("/whaledr")):
                found.append(command[1:])
            command = []
        else:
            command.append(token)
    return found


def parse(args: list[str], complete: bool) -> None:
    """Parse `whaledr ARGS` with typer's own parser, as the installed entry point would, without running
    it: the group's context, the sub-command it resolves to, and that command's context (options, types,
    required arguments). A mention (not `complete`: `whaledr run --preset low` in a sentence) may leave out
    what is required and put a placeholder for a value; its command and option names must exist."""
    args = [a for a in args if a != "--help"]  # it would print and exit; what it asks about must exist
    group = hooks().cli_group()
    if not args:
        return
    ctx = group.make_context("whaledr", args)
    name, command, rest = group.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
    if complete:
        command.make_context(name, rest, parent=ctx)
        return
    known = {o for p in command.params for o in [*p.opts, *p.secondary_opts]} | {"--help"}
    unknown = [a.split("=")[0] for a in rest if a.startswith("-") and a.split("=")[0] not in known]
    assert not unknown, f"whaledr {name} has no option {', '.join(unknown)}"


def documented_command_lines() -> list[tuple[str, list[str], bool]]:
    """(where, args, complete): every line of a code block that runs whaledr (complete: it must parse in
    full) and every inline code span `whaledr COMMAND ...` (a mention: its command and option names must
    exist; block types such as `whaledr App` are capitalised and left out)."""
    found = []
    for path in pages():
        text = path.read_text()
        for line in fenced_lines(text):
            found += [(f"{path.name}: {line.strip()}", args, True) for args in whaledr_args(line)]
        for line in outside_fences(text):
            for span in re.findall(r"`(whaledr [a-z-][^`]*)`", line):
                found += [(f"{path.name}: `{span}`", args, False) for args in whaledr_args(span)]
    return found


def test_every_whaledr_command_line_in_the_readme_and_the_docs_parses_against_the_cli():
    """Each `whaledr ...` line in a code block of README.md or docs/ parses in full with typer's parser
    (command, options, types, required arguments); each inline `whaledr ...` span names a command and
    options that exist. A renamed option or command fails here before a reader copies it."""
    lines = documented_command_lines()
    assert sum(complete for _, _, complete in lines) >= 20, "the collector found too few command lines"
    failures = []
    for where, args, complete in lines:
        try:
            parse(args, complete)
        except Exception as e:  # typer's UsageError and its kin: say which line and why
            failures.append(f"{where}\n    {type(e).__name__}: {getattr(e, 'message', e)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("args, complete", [
    (["run", "2019-01-12", "--no-such-option"], True),
    (["run", "--hydrofone", "LJ01D"], False),
    (["run"], True),  # DATE is required
    (["run", "2019-01-12", "--workers", "two"], True),
    (["no-such-command"], False),
])
def test_the_parser_check_refuses_a_wrong_command_line(args, complete):
    """The check above can fail: an unknown option (even in a mention), a missing argument, a value of
    the wrong type and an unknown command are each refused."""
    with pytest.raises(Exception):  # noqa: B017 - typer's usage errors differ by kind
        parse(args, complete)


def test_the_collector_finds_commands_behind_assignments_and_chains_and_across_continuations():
    """Lines as the docs write them: after `&&`, behind an environment assignment, split with `\\`."""
    assert whaledr_args("read -rs X && export X && whaledr alerts   # or any webhook") == [["alerts"]]
    assert whaledr_args("PREFECT_API_URL=http://h:4200/api whaledr serve --port 4200") == [["serve", "--port", "4200"]]
    assert whaledr_args(".venv/bin/whaledr demo") == [["demo"]]
    assert whaledr_args("whaledr: app block 'x' disagrees") == []
    assert fenced_lines("```\nwhaledr run 2019-01-12 \\\n  --out x\n```") == ["whaledr run 2019-01-12    --out x"]


def headings(text: str) -> list[str]:
    return [line.lstrip("#").strip() for line in outside_fences(text) if re.match(r"^#{1,6} ", line)]


def test_every_section_the_readme_held_has_a_page_under_the_same_heading():
    """Nothing was lost when the README became a front page: each of its old sections is a heading of
    the page that holds it now, and that page is in the site's navigation."""
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [f"{title!r} not a heading of docs/{page}" for title, page in README_SECTIONS.items()
               if not (DOCS / page).exists() or title not in headings((DOCS / page).read_text())]
    assert not missing, "\n".join(missing)
    assert {page for page in README_SECTIONS.values() if f": {page}" not in nav} == set()


def test_the_readme_is_a_front_page_that_opens_with_the_same_two_commands():
    """At most 150 lines; its first code block is the two commands it always opened with; every link into
    docs/ names a page or picture that exists."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    assert [line for line in readme.split("```")[1].splitlines() if line.strip()] == FIRST_COMMANDS
    targets = re.findall(r"\]\((docs/[^)#\s]+)", readme)
    assert targets and [t for t in targets if not (ROOT / t).exists()] == []


def test_the_command_reference_names_every_command_and_option():
    """The generated page holds every command of the typer app and every option name of each."""
    page = hooks().cli_reference()
    group = hooks().cli_group()
    for name, command in group.commands.items():
        assert f"## whaledr {name}\n" in page
        section = page.split(f"## whaledr {name}\n")[1].split("\n## ")[0]
        for param in command.params:
            for opt in [*param.opts, *param.secondary_opts]:
                assert (opt if opt.startswith("-") else param.name) in section, (name, opt)


def test_the_deployments_table_lists_exactly_the_fields_of_each_deployments_form():
    """The table on the deployments page is made from prefect.yaml and each flow's parameter schema (the
    UI's form): one row per deployment, naming exactly the form's fields."""
    h = hooks()
    table = h.deployments_table()
    for d in h.deployments():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{h.FLOW_NAMES[d['name']]}/{d['name']}`"))
        listed = set(re.findall(r"`(\w+)`", row.split("|")[4]))
        assert listed == set(h.flow_schema(d["entrypoint"])["properties"]), d["name"]


def test_the_groups_table_lists_exactly_the_fields_of_each_parameter_group_and_real_run_options():
    """One row per parameter group with exactly the model's fields, and only options `whaledr run` has."""
    from flows import params

    h = hooks()
    table = h.groups_table()
    run_opts = {o for p in h.cli_group().commands["run"].params for o in [*p.opts, *p.secondary_opts]}
    for name, model in {"output": params.Output, "app": params.App, "downloads": params.Downloads,
                        "rendering": params.Rendering, "selection": params.Selection}.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        assert set(re.findall(r"`(\w+)`", row.split("|")[2])) == set(model.model_fields), name
        options = {o for cell in re.findall(r"`(--[^`]+)`", row.split("|")[3]) for o in cell.split("/")}
        assert options and options <= run_opts, (name, options - run_opts)


def test_the_parameters_reference_describes_every_field():
    """Every deployment parameter and every group field appears with its description from the code."""
    h = hooks()
    page = h.parameters_reference()
    for d in h.deployments():
        for name, field in h.flow_schema(d["entrypoint"])["properties"].items():
            assert f"| `{name}` |" in page and " ".join(field["description"].split()) in page, name
    for model in h._group_models().values():
        for field, info in model.model_fields.items():
            assert f"| `{field}` |" in page and " ".join(str(info.description).split()) in page, field


def test_the_parameters_reference_gives_each_fields_label_and_choices_as_the_form_shows_them():
    """The reference names each field as the run form labels it ("FFT length") and lists the choices the
    form offers (contrast, image format, WAV, store, hydrophone)."""
    h = hooks()
    page = h.parameters_reference()
    for d in h.deployments():
        schema = h.flow_schema(d["entrypoint"])
        fields = [*schema["properties"].values(), *(f for g in schema["definitions"].values()
                                                   for f in g["properties"].values())]
        for field in fields:
            assert f"| {field['title']} |" in page, field["title"]
            if "enum" in field:
                assert "Choices: " + ", ".join(f"`{v}`" for v in field["enum"]) + "." in page, field["title"]
    assert "| `nfft` | FFT length |" in page and "Choices: `percentile`, `fixed`, `floor`." in page


def test_each_option_in_the_command_reference_shows_one_default_the_one_it_takes():
    """An option's help shows one `[default: ...]`, never a second one written into its help text beside
    click's; `whaledr backfill --max-days` shows the limit it applies when not given."""
    from whaledr_core.days import MAX_DAYS_WITHOUT_CONFIRMATION

    rows = [line for line in hooks().cli_reference().splitlines() if line.startswith("| `-")]
    assert [row for row in rows if row.count("[default:") > 1] == []
    backfill = hooks().cli_reference().split("## whaledr backfill\n")[1].split("\n## ")[0]
    (row,) = [line for line in backfill.splitlines() if line.startswith("| `--max-days")]
    assert f"[default: {MAX_DAYS_WITHOUT_CONFIRMATION}" in row
