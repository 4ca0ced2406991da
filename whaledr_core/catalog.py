"""The broadband hydrophones we know, and where their data lives.

This module is the single source of truth for a hydrophone's folders and the default server; every
other module asks it rather than building a path by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, get_args

DEFAULT_SOURCE = "https://rawdata.oceanobservatories.org/files"
"""The OOI raw data server; `rawdata-west.oceanobservatories.org` mirrors it."""

SAMPLE_RATE = 64_000
"""Broadband hydrophones record at 64 kHz."""

FILE_SECONDS = 300
"""OOI writes one file per 5 minutes."""

# Around February 2025 the instrument folder lost its numeric prefix (11-HYDBBA106 -> HYDBBA106).
PREFIX_DROPPED = dt.date(2025, 2, 1)


@dataclass(frozen=True)
class Hydrophone:
    refdes: str
    """Reference designator in its older, prefixed form, e.g. CE02SHBP-LJ01D-11-HYDBBA106."""
    name: str
    latitude: float
    longitude: float
    station: str | None
    """Station code seen in the files; only used to make synthetic data: real runs read it from the files."""

    @property
    def site(self) -> str:
        return self.refdes.split("-")[0]

    @property
    def node(self) -> str:
        return self.refdes.split("-")[1]

    @property
    def legacy_instrument(self) -> str:
        return "-".join(self.refdes.split("-")[2:])

    @property
    def instrument(self) -> str:
        return self.refdes.split("-")[3]

    def instrument_folders(self, day: dt.date) -> list[str]:
        """Both folder forms, the one in use on `day` first, since either may hold a given day."""
        current, legacy = self.instrument, self.legacy_instrument
        return [current, legacy] if day >= PREFIX_DROPPED else [legacy, current]

    def day_paths(self, day: dt.date) -> list[str]:
        """Relative day folders (`site/node/instrument/YYYY/MM/DD/`) to try, in order."""
        return [
            f"{self.site}/{self.node}/{inst}/{day:%Y/%m/%d}/" for inst in self.instrument_folders(day)
        ]


HYDROPHONES: tuple[Hydrophone, ...] = (
    Hydrophone("CE02SHBP-LJ01D-11-HYDBBA106", "Oregon Shelf", 44.63721, -124.30564, "HYEA2"),
    Hydrophone("CE04OSBP-LJ01C-11-HYDBBA105", "Oregon Offshore", 44.36933, -124.95347, "HYEA1"),
    Hydrophone("RS01SLBS-LJ01A-09-HYDBBA102", "Slope Base seafloor", 44.51505, -125.39002, "HYVM1"),
    Hydrophone("RS01SBPS-PC01A-08-HYDBBA103", "Slope Base 200 m platform", 44.51516, -125.38990, "HYVM2"),
    Hydrophone("RS03AXBS-LJ03A-09-HYDBBA302", "Axial Base seafloor", 45.81676, -129.75426, None),
    Hydrophone("RS03AXPS-PC03A-08-HYDBBA303", "Axial Base 200 m platform", 45.81671, -129.75405, None),
)


Node = Literal["LJ01D", "LJ01C", "LJ01A", "PC01A", "LJ03A", "PC03A"]
"""The node codes of HYDROPHONES, as a type: a run form offers them as choices."""
if get_args(Node) != tuple(h.node for h in HYDROPHONES):
    raise AssertionError("Node must list the nodes of HYDROPHONES, in order")

DEFAULT_HYDROPHONES: tuple[Node, ...] = ("LJ01D",)
"""Oregon Shelf, the hydrophone the app started with: what scheduled runs and backfills do unless told."""


class UnknownHydrophone(ValueError):
    pass


def get_hydrophone(code: str) -> Hydrophone:
    """Find a hydrophone by node (LJ01D), reference designator in either form, or instrument code."""
    wanted = code.strip().upper()
    for h in HYDROPHONES:
        names = {h.node, h.refdes, h.instrument, h.legacy_instrument, f"{h.site}-{h.node}-{h.instrument}"}
        if wanted in names:
            return h
    known = ", ".join(f"{h.node} ({h.name})" for h in HYDROPHONES)
    raise UnknownHydrophone(f"unknown hydrophone {code!r}; known: {known}")
