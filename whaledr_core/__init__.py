"""whaledr_core: the pure library behind the whaledr pipeline (no Prefect in here).

Modules, in the order a day flows through them: catalog, listing, fetch, clips, render, naming,
sinks, process, manifest; synth makes realistic test data.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("whaledr-pipeline")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
