"""Which of a day's windows reach volunteers: the publish budget and the reason for every choice.

A hydrophone-day is 17,280 clips and the live app serves a few thousand samples in all (Play and
Admin read the whole of `/sampleCounts`), so a day is published within a budget:

- `all`: every clip, as the original did;
- `top:N`: the N highest-scoring windows (see `score`);
- `top:N+random:M`: those plus M drawn from the rest, so that volunteers (and models trained on
  their votes) also see ordinary sea noise and the score's misses.

The draw must give the same picks on a rerun and must not shift when a window appears or vanishes
(a file that failed yesterday and is fetched today). So each window gets a fixed pseudo-random rank
from a hash of hydrophone, day and window, and the draw takes the M lowest ranks outside the top.
With fixed scores, growing N or M then only ever adds windows. Votes hang on published IDs, so the
caller also passes what was published before and every such window stays published (reason `kept`)
whatever the scores say now.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass

ALL = "all"
TOP = "top"
RANDOM = "random"
KEPT = "kept"
"""Published by an earlier run and outside this run's picks: never withdrawn."""
BELOW_BUDGET = "below_budget"

PUBLISHED = frozenset({ALL, TOP, RANDOM, KEPT})
"""Reasons that mean "published"; BELOW_BUDGET is the only one that does not."""

_GRAMMAR = re.compile(r"top:(\d+)(?:\+random:(\d+))?")


@dataclass(frozen=True)
class Budget:
    top: int | None = None
    """None: publish every window (`all`)."""
    random: int = 0

    @property
    def is_all(self) -> bool:
        return self.top is None

    def __str__(self) -> str:
        if self.top is None:
            return ALL
        return f"top:{self.top}" + (f"+random:{self.random}" if self.random else "")


def parse_budget(text: str) -> Budget:
    """`all`, `top:N` or `top:N+random:M` (N, M whole numbers); anything else is an error naming it."""
    spec = text.strip()
    if spec == ALL:
        return Budget()
    m = _GRAMMAR.fullmatch(spec)
    if m is None:
        raise ValueError(
            f"publish budget {text!r} not understood: use 'all', 'top:N' or 'top:N+random:M' (e.g. top:300+random:60)"
        )
    return Budget(int(m.group(1)), int(m.group(2) or 0))


def widens(before: Budget, now: Budget) -> bool:
    """Whether `now` may publish windows of a day that `before` did not: `all` after a top budget, a
    larger top or a larger draw. With the day's scores fixed, a budget that does not widen adds nothing."""
    if before.is_all:
        return False
    if now.is_all:
        return True
    assert before.top is not None and now.top is not None
    return now.top > before.top or now.random > before.random


def draw_rank(node: str, day: dt.date, window: int) -> int:
    """A window's place in the day's random draw: fixed by hydrophone, day and window alone."""
    digest = hashlib.blake2b(f"{node}|{day.isoformat()}|{window}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def choose(
    scores: Mapping[int, float],
    budget: Budget,
    *,
    node: str,
    day: dt.date,
    previous: Set[int] = frozenset(),
) -> dict[int, str]:
    """Reason for every window in `scores` and in `previous`: `all`, `top`, `random`, `kept` or `below_budget`.

    `scores` maps each window with data to its call score; `previous` holds the windows an earlier
    run published. Ties in score go to the earlier window, so the top is the same on every run.
    A window published before but missing from `scores` now (its file failed this time) stays
    published as `kept`.
    """
    for k, s in scores.items():
        if not math.isfinite(s):
            raise ValueError(f"window {k} has score {s!r}; every window with data needs a finite score")
    if budget.is_all:
        reasons = dict.fromkeys(scores, ALL)
    else:
        assert budget.top is not None
        ranked = sorted(scores, key=lambda k: (-scores[k], k))
        top = ranked[: budget.top]
        rest = sorted(ranked[budget.top :], key=lambda k: draw_rank(node, day, k))
        reasons = dict.fromkeys(scores, BELOW_BUDGET)
        reasons.update(dict.fromkeys(rest[: budget.random], RANDOM))
        reasons.update(dict.fromkeys(top, TOP))
    for k in previous:
        if reasons.get(k, BELOW_BUDGET) == BELOW_BUDGET:
            reasons[k] = KEPT
    return dict(sorted(reasons.items()))


def published(reasons: Mapping[int, str]) -> list[int]:
    """The windows to store, list in the app manifest and sync, in day order."""
    return sorted(k for k, r in reasons.items() if r in PUBLISHED)
