"""Draw docs/architecture.svg: how one day goes through the shell (flows/) and the core (whaledr_core/).

    python docs/architecture.py      # after a step or a module changes; the SVG is text, reviewed as a diff
"""

from html import escape
from pathlib import Path

STEPS = [  # (what happens, the flow's task or where, the core modules that do it)
    ("list", ["list_day"], ["listing", "dayplan", "catalog"]),
    ("fetch", ["download"], ["fetch"]),
    ("cut and score", ["process"], ["clips", "render", "score", "fileclips", "sinks"]),
    ("repair", ["(in the flow)"], ["ownership"]),
    ("choose", ["(in the flow)"], ["publish", "rerun"]),
    ("encode chosen", ["process"], ["render", "fileclips", "sinks"]),
    ("record", ["write_manifest", "write_overview"], ["daymanifest", "overview"]),
    ("publish", ["update_app_manifest"], ["appmanifest", "sinks"]),
    ("tell the app", ["sync_app"], ["appsync", "gauth", "app"]),
]
ENTRIES = [
    ("whaledr run / demo / backfill", "flows/cli: a local Prefect API, a progress bar"),
    ("daily and backfill deployments", "flows/backfill.py: a day run per (day, hydrophone)"),
    ("whaledr serve / a worker", "prefect.yaml's deployments, served or on a work pool"),
]
NOTES = [
    ("#1565c0", "shell: Prefect tasks (flows/tasks.py), each wraps one core call; files go to worker processes "
                "(flows/pool.py, worker.py)"),
    ("#2e7d32", "core: whaledr_core/, pure functions: values in, values out; no Prefect import (a test enforces it)"),
    ("#263238", "Between tasks travel paths, keys and small records (FileResult), never sample arrays; every step is "
                "idempotent: a rerun does only what is missing."),
    ("#263238", "With a top budget, step 3 scores every file and encodes nothing; step 5 picks the day's windows; "
                "step 6 reads only the files that hold them."),
]
W, COL, GAP, X0 = 1240, 128, 6, 20


def box(x: float, y: float, w: float, h: float, fill: str, stroke: str, lines: list[str], size: float = 13,
        bold_first: bool = False) -> list[str]:
    out = [f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="{stroke}"/>']
    for i, line in enumerate(lines):
        ty = y + h / 2 + (i - (len(lines) - 1) / 2) * (size + 3) + size * 0.35
        weight = ' font-weight="bold"' if bold_first and i == 0 else ""
        out.append(f'<text x="{x + w / 2}" y="{ty:.1f}" font-size="{size}" text-anchor="middle"{weight}>'
                   f'{escape(line)}</text>')
    return out


def arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#455a64" stroke-width="1.5" '
            'marker-end="url(#a)"/>')


def text(x: float, y: float, s: str, size: float = 12, fill: str = "#263238", bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return f'<text x="{x}" y="{y}" font-size="{size}" fill="{fill}"{weight}>{escape(s)}</text>'


def draw() -> str:
    out = [text(X0, 28, "How a day starts", 15, bold=True)]
    for i, (title, what) in enumerate(ENTRIES):
        x = X0 + i * 400
        out += box(x, 40, 380, 46, "#eceff1", "#90a4ae", [title, what], 12, bold_first=True)
        out.append(arrow(x + 190, 86, x + 190, 118))
    out += box(X0, 118, W - 2 * X0, 36, "#e3f2fd", "#64b5f6",
               ["flows/day.py: day_flow, the story of one day (Prefect flow)"], 14, bold_first=True)
    y_task, y_core = 190, 300
    out.append(text(X0, y_task - 12, NOTES[0][1], fill=NOTES[0][0]))
    for i, (step, where, modules) in enumerate(STEPS):
        x = X0 + i * (COL + GAP)
        out += box(x, y_task, COL, 50, "#bbdefb", "#1e88e5", [f"{i + 1}. {step}", *where], 11, bold_first=True)
        if i < len(STEPS) - 1:
            out.append(arrow(x + COL, y_task + 25, x + COL + GAP, y_task + 25))
        out.append(arrow(x + COL / 2, y_task + 50, x + COL / 2, y_core))
        out += box(x, y_core, COL, 18 + 17 * len(modules), "#c8e6c9", "#43a047", [m + ".py" for m in modules], 12)
    for k, (colour, note) in enumerate(NOTES[1:]):
        out.append(text(X0, y_core + 120 + 22 * k + (3 if k else 0), note, fill=colour))
    h = y_core + 185
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="{W}" height="{h}" '
            'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" fill="#263238">\n'
            '<defs><marker id="a" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#455a64"/></marker></defs>\n'
            f'<rect width="{W}" height="{h}" fill="white"/>\n' + "\n".join(out) + "\n</svg>\n")


if __name__ == "__main__":
    (Path(__file__).parent / "architecture.svg").write_text(draw())
