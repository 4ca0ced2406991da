"""Which days a schedule or a backfill covers, and the key that makes each day's run happen once."""

import datetime as dt

import pytest

from whaledr_core.days import DayRangeError, day_range, day_run_key, lagged_day


def test_a_range_includes_both_ends():
    assert day_range(dt.date(2019, 2, 27), dt.date(2019, 3, 1)) == [
        dt.date(2019, 2, 27), dt.date(2019, 2, 28), dt.date(2019, 3, 1)]
    assert day_range(dt.date(2020, 1, 1), dt.date(2020, 1, 1)) == [dt.date(2020, 1, 1)]


def test_end_before_start_and_too_long_a_range_are_refused_in_one_line():
    with pytest.raises(DayRangeError, match="end 2019-01-01 is before start 2019-01-02"):
        day_range(dt.date(2019, 1, 2), dt.date(2019, 1, 1))
    with pytest.raises(DayRangeError, match="is 32 days, more than 31") as e:
        day_range(dt.date(2019, 1, 1), dt.date(2019, 2, 1))
    assert "\n" not in str(e.value)
    assert len(day_range(dt.date(2019, 1, 1), dt.date(2019, 2, 1), max_days=32)) == 32


def test_the_daily_day_is_lag_days_before_the_scheduled_utc_time():
    six_utc = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.UTC)
    assert lagged_day(six_utc, 1) == dt.date(2026, 2, 28)
    assert lagged_day(six_utc, 0) == dt.date(2026, 3, 1)
    # 23:30 in Los Angeles on 28 Feb is already 1 March in UTC
    la = dt.timezone(dt.timedelta(hours=-8))
    assert lagged_day(dt.datetime(2026, 2, 28, 23, 30, tzinfo=la), 1) == dt.date(2026, 2, 28)
    with pytest.raises(DayRangeError):
        lagged_day(six_utc, -1)


def test_a_day_run_key_is_stable_and_changes_with_what_the_run_would_do():
    params = {"out": "/x", "source": "http://a", "overwrite": False}
    key = day_run_key("LJ01D", dt.date(2019, 1, 12), params)
    assert key == day_run_key("LJ01D", dt.date(2019, 1, 12), dict(reversed(params.items())))
    assert key.startswith("whaledr-day/LJ01D/2019-01-12/")
    others = {
        day_run_key("LJ01C", dt.date(2019, 1, 12), params),
        day_run_key("LJ01D", dt.date(2019, 1, 13), params),
        day_run_key("LJ01D", dt.date(2019, 1, 12), {**params, "out": "/y"}),
        day_run_key("LJ01D", dt.date(2019, 1, 12), params, salt="run-2"),
    }
    assert key not in others and len(others) == 4
