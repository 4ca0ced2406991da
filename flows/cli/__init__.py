"""`whaledr`: run a day, backfill days, keep the daily schedule, ship to the app, make a synthetic
OOI mirror, or try it all on an embedded demo.

Each command lives in a module named for what it works on; options that several commands share are
declared once in `options`, and the way a flow is run from a terminal lives in `local`. A new
command is a function in a module and one line below.
"""

from __future__ import annotations

import typer

from . import app as app_commands
from . import blocks, data, days, operate, overview, run

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n\n")[0])

app.command()(run.run)
app.command()(run.demo)
app.command()(days.backfill)
app.command()(days.serve)
app.command()(blocks.blocks)
app.command("app-block")(blocks.app_block)
app.command()(app_commands.sync)
app.command("check-app")(app_commands.check_app)
app.command()(data.synth)
app.command()(overview.overview)
app.command()(data.availability)
app.command()(operate.alerts)
app.command("download-limit")(operate.download_limit)

