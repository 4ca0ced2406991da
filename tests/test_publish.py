"""The publish budget: its grammar, its picks, their reasons, and that a rerun never withdraws an ID."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from whaledr_core.publish import BELOW_BUDGET, KEPT, RANDOM, TOP, Budget, choose, parse_budget, published

DAY = dt.date(2019, 1, 12)
NODE = "LJ01D"
SCORES = {k: float(s) for k, s in enumerate(np.random.default_rng(7).normal(0, 1, 2000))}


@pytest.mark.parametrize(("text", "budget"), [
    ("all", Budget()),
    ("top:300", Budget(300, 0)),
    ("top:300+random:60", Budget(300, 60)),
    (" top:0+random:5 ", Budget(0, 5)),
])
def test_budgets_parse_and_print_back(text, budget):
    assert parse_budget(text) == budget
    assert parse_budget(str(budget)) == budget


@pytest.mark.parametrize("text", [
    "", "ALL", "top", "top:", "top:-3", "top:3.5", "top:10+random", "random:5", "top:10+random:5+top:2",
    "top:10,random:5", "top: 10", "best:10",
])
def test_anything_else_is_an_error_that_names_it(text):
    with pytest.raises(ValueError, match="publish budget") as e:
        parse_budget(text)
    assert repr(text) in str(e.value)


def test_all_publishes_every_window_with_data():
    reasons = choose(SCORES, parse_budget("all"), node=NODE, day=DAY)
    assert published(reasons) == sorted(SCORES)


def test_top_n_are_the_highest_scores_and_the_rest_are_below_budget():
    reasons = choose(SCORES, parse_budget("top:50"), node=NODE, day=DAY)
    chosen = published(reasons)
    assert len(chosen) == 50 and set(reasons) == set(SCORES)
    assert min(SCORES[k] for k in chosen) > max(SCORES[k] for k in SCORES if k not in chosen)
    assert {reasons[k] for k in chosen} == {TOP}
    assert {r for k, r in reasons.items() if k not in chosen} == {BELOW_BUDGET}


def test_ties_go_to_the_earlier_window():
    reasons = choose(dict.fromkeys(range(10), 1.0), Budget(3), node=NODE, day=DAY)
    assert published(reasons) == [0, 1, 2]


def test_random_picks_come_from_the_rest_and_are_the_same_on_a_rerun():
    budget = parse_budget("top:50+random:20")
    first = choose(SCORES, budget, node=NODE, day=DAY)
    again = choose(dict(reversed(list(SCORES.items()))), budget, node=NODE, day=DAY)
    assert first == again
    randoms = [k for k, r in first.items() if r == RANDOM]
    assert len(randoms) == 20 and len(published(first)) == 70
    # drawn from the rest, not just the next best: their scores spread over the ordinary range
    assert np.median([SCORES[k] for k in randoms]) < np.quantile(list(SCORES.values()), 0.9)


def test_the_draw_depends_on_hydrophone_and_day():
    budget = parse_budget("top:0+random:20")
    a = published(choose(SCORES, budget, node=NODE, day=DAY))
    b = published(choose(SCORES, budget, node="LJ01C", day=DAY))
    c = published(choose(SCORES, budget, node=NODE, day=DAY + dt.timedelta(days=1)))
    assert a != b and a != c


def test_the_draw_does_not_shift_when_another_window_appears():
    budget = parse_budget("top:10+random:20")
    before = choose({k: s for k, s in SCORES.items() if k != 1500}, budget, node=NODE, day=DAY)
    after = choose(SCORES, budget, node=NODE, day=DAY)
    moved = set(published(before)) - set(published(after))
    assert len(moved) <= 1  # at most the one the newcomer displaced


@pytest.mark.parametrize(("small", "large"), [
    ("top:50", "top:200"), ("top:50+random:20", "top:50+random:60"), ("top:50+random:20", "top:300+random:20"),
])
def test_a_larger_budget_keeps_every_window_published_before(small, large):
    before = set(published(choose(SCORES, parse_budget(small), node=NODE, day=DAY)))
    after = choose(SCORES, parse_budget(large), node=NODE, day=DAY, previous=before)
    assert before <= set(published(after))
    assert KEPT not in after.values()  # with the same scores the larger budget holds them by itself


def test_previously_published_windows_stay_whatever_the_scores_say_now():
    before = set(published(choose(SCORES, Budget(30), node=NODE, day=DAY)))
    changed = {k: -s for k, s in SCORES.items()}  # the day's scores turned upside down
    changed.pop(min(before))  # and one published window has no data this time
    after = choose(changed, Budget(30), node=NODE, day=DAY, previous=before)
    assert before <= set(published(after))
    assert after[min(before)] == KEPT
    assert sum(r == TOP for r in after.values()) == 30


def test_a_score_that_is_not_a_number_is_an_error():
    with pytest.raises(ValueError, match="window 3"):
        choose({1: 0.5, 3: float("nan")}, Budget(1), node=NODE, day=DAY)
