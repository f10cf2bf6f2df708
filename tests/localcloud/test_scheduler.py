"""The schedule parser against EventBridge's documented examples, and the scheduler loop on a fast clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from localcloud.scheduler import Job, ScaledClock, ScheduleError, Scheduler, parse_schedule


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def firings(expression: str, start: datetime, count: int) -> list[datetime]:
    schedule = parse_schedule(expression, origin=start)
    out, moment = [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        out.append(moment)
    return out


def test_rate_counts_from_the_origin() -> None:
    start = at(2026, 1, 1, 10, 0, 30)
    assert firings("rate(5 minutes)", start, 3) == [start + timedelta(minutes=m) for m in (5, 10, 15)]
    assert firings("rate(1 hour)", start, 1) == [start + timedelta(hours=1)]
    assert firings("rate(2 days)", start, 1) == [start + timedelta(days=2)]


@pytest.mark.parametrize("bad", ["rate(0 minutes)", "rate(1 minutes)", "rate(5 minute)", "rate(5 seconds)", "every 5m"])
def test_bad_rates_are_rejected(bad: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(bad)


def test_cron_every_ten_minutes_on_weekdays() -> None:
    # EventBridge example: 0/10 * ? * MON-FRI *  (2026-01-02 is a Friday)
    got = firings("cron(0/10 * ? * MON-FRI *)", at(2026, 1, 2, 23, 45), 3)
    assert got == [at(2026, 1, 2, 23, 50), at(2026, 1, 5, 0, 0), at(2026, 1, 5, 0, 10)]


def test_cron_fixed_time_every_day_and_hour_ranges() -> None:
    assert firings("cron(15 10 * * ? *)", at(2026, 3, 1, 10, 15), 2) == [at(2026, 3, 2, 10, 15), at(2026, 3, 3, 10, 15)]
    assert firings("cron(0 8-10/2 * * ? *)", at(2026, 3, 1, 7, 0), 3) == [
        at(2026, 3, 1, 8, 0),
        at(2026, 3, 1, 10, 0),
        at(2026, 3, 2, 8, 0),
    ]


def test_cron_last_day_and_last_weekday_of_month() -> None:
    assert firings("cron(0 12 L * ? *)", at(2024, 2, 1), 2) == [at(2024, 2, 29, 12), at(2024, 3, 31, 12)]
    # 2026-05-31 is a Sunday, so the last weekday is Friday the 29th
    assert firings("cron(0 0 LW 5 ? 2026)", at(2026, 1, 1), 1) == [at(2026, 5, 29)]


def test_cron_nearest_weekday_and_nth_and_last_weekday_of_month() -> None:
    # 2026-08-15 is a Saturday -> nearest weekday Friday 14th
    assert firings("cron(0 9 15W 8 ? 2026)", at(2026, 1, 1), 1) == [at(2026, 8, 14, 9)]
    # third Monday (2#3) of June 2026 is the 15th; last Friday (6L) of June 2026 is the 26th
    assert firings("cron(0 9 ? 6 2#3 2026)", at(2026, 1, 1), 1) == [at(2026, 6, 15, 9)]
    assert firings("cron(0 9 ? 6 6L 2026)", at(2026, 1, 1), 1) == [at(2026, 6, 26, 9)]


def test_cron_month_names_lists_and_years() -> None:
    assert firings("cron(30 6 1 JAN,JUL ? 2027-2028)", at(2026, 12, 31), 3) == [
        at(2027, 1, 1, 6, 30),
        at(2027, 7, 1, 6, 30),
        at(2028, 1, 1, 6, 30),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "cron(0 12 * * * *)",  # both day fields given
        "cron(0 12 ? * ? *)",  # neither given
        "cron(0 12 * *)",  # too few fields
        "cron(60 12 * * ? *)",  # minute out of range
        "cron(0 12 ? * MOO *)",  # unknown day name
        "cron(0 12 L-2 * ? *)",  # outside the documented subset
        "cron(0 12 ? * 2#6 *)",  # no sixth Monday
        "cron(0/0 12 * * ? *)",  # zero step
    ],
)
def test_bad_cron_is_rejected_at_parse_time(bad: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(bad)


def test_cron_that_never_fires_again_says_so() -> None:
    with pytest.raises(ScheduleError, match="never fires"):
        parse_schedule("cron(0 0 1 1 ? 1999)").next_after(at(2026, 1, 1))


async def test_scheduler_fires_a_one_minute_rate_on_a_fast_clock_and_survives_a_failing_target() -> None:
    clock = ScaledClock(speed=1200.0)  # one virtual minute = 50 ms
    origin = clock.now()
    fired: list[datetime] = []

    async def target(name: str, due: datetime) -> None:
        fired.append(due)
        if len(fired) == 2:
            raise RuntimeError("target down")  # EventBridge keeps firing a rule whose target fails

    scheduler = Scheduler([Job("warm", parse_schedule("rate(1 minute)", origin=origin), target)], clock)
    scheduler.start()
    try:
        async with asyncio.timeout(5):
            while len(fired) < 4:
                await asyncio.sleep(0.01)
    finally:
        await scheduler.stop()
    # Each firing sits on the rate's grid (a slow machine may skip a slot, as EventBridge never catches up)
    assert all((due - origin) % timedelta(minutes=1) == timedelta(0) for due in fired)
    assert fired == sorted(set(fired)) and fired[0] == origin + timedelta(minutes=1)
