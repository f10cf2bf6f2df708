"""EventBridge-style schedules for the local cloud: ``rate(...)`` and ``cron(...)`` expressions that fire.

moto stores EventBridge rules but never fires them, so the local cloud runs its own scheduler over the
same expressions the stack file gives the keep-warm rules. Times are UTC, as in EventBridge.

Supported ``cron(Minutes Hours Day-of-month Month Day-of-week Year)`` subset (EventBridge's six fields):

- every field: ``*``, a value, lists ``a,b``, ranges ``a-b``, steps ``*/n`` and ``a/n`` and ``a-b/n``;
- months ``1-12`` or ``JAN-DEC``; days of week ``1-7`` or ``SUN-SAT`` (1 = Sunday, as in EventBridge);
- day-of-month: ``?``, ``L`` (last day), ``nW`` (weekday nearest day n), ``LW`` (last weekday);
- day-of-week: ``?``, ``L`` (Saturday, the last day of the week), ``nL`` (last weekday n of the month),
  ``n#k`` (k-th weekday n of the month);
- exactly one of day-of-month and day-of-week must be ``?`` (EventBridge rejects both or neither).

Not supported (rejected with :class:`ScheduleError`): ``L-n`` offsets, seconds, time zones.
``rate(N unit)`` fires every N units counted from when the scheduler starts, as a new rule does.

The clock is injectable (:class:`Clock`) so tests run a ``rate(1 minute)`` schedule on a sped-up clock
with the same parser, instead of a weakened test-only expression.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

log = logging.getLogger("localcloud.scheduler")

MAX_YEAR = 2199
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name.upper(): i + 1 for i, name in enumerate(calendar.month_abbr[1:])}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class ScheduleError(ValueError):
    """A schedule expression is malformed or uses a feature outside the documented subset."""


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime:
        """The first firing time strictly after ``moment`` (UTC)."""
        ...


@dataclass(frozen=True)
class RateSchedule:
    """``rate(N unit)``: every ``period`` starting from ``origin``."""

    period: timedelta
    origin: datetime

    def next_after(self, moment: datetime) -> datetime:
        if moment < self.origin:
            return self.origin + self.period
        elapsed = (moment - self.origin) // self.period
        return self.origin + (elapsed + 1) * self.period


def _parse_value(token: str, names: dict[str, int], low: int, high: int, field: str) -> int:
    value = names.get(token.upper()) if names else None
    if value is None:
        if not token.isdigit():
            raise ScheduleError(f"cron {field} field: {token!r} is not a number{' or name' if names else ''}")
        value = int(token)
    if not low <= value <= high:
        raise ScheduleError(f"cron {field} field: {value} is outside {low}-{high}")
    return value


def _parse_set(text: str, low: int, high: int, field: str, names: dict[str, int] | None = None) -> frozenset[int]:
    """Parse ``*``, values, lists, ranges and steps into the set of matching values."""
    names = names or {}
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"cron {field} field: bad step {step_text!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _parse_value(first, names, low, high, field)
            end = _parse_value(last, names, low, high, field)
            if end < start:
                raise ScheduleError(f"cron {field} field: range {base!r} runs backwards")
        else:
            start = _parse_value(base, names, low, high, field)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _eb_weekday(day: date) -> int:
    """EventBridge numbering: 1 = Sunday ... 7 = Saturday."""
    return (day.isoweekday() % 7) + 1


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The Mon-Fri day nearest ``day`` without leaving the month (cron's ``W``)."""
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    weekday = date(year, month, day).weekday()  # 0 = Monday
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < last else day - 2
    return day


@dataclass(frozen=True)
class _DayRule:
    """Day-of-month or day-of-week matching, including the ``L``, ``W`` and ``#`` forms."""

    field: str
    text: str

    def matches(self, day: date) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        if self.field == "day-of-month":
            return self._matches_dom(day, last)
        return self._matches_dow(day, last)

    def _matches_dom(self, day: date, last: int) -> bool:
        text = self.text.upper()
        if text == "L":
            return day.day == last
        if text == "LW":
            return day.day == _nearest_weekday(day.year, day.month, last)
        if text.endswith("W"):
            target = _parse_value(text[:-1], {}, 1, 31, self.field)
            return day.day == _nearest_weekday(day.year, day.month, target)
        return day.day in _parse_set(text, 1, 31, self.field)

    def _matches_dow(self, day: date, last: int) -> bool:
        text = self.text.upper()
        weekday = _eb_weekday(day)
        if text == "L":
            return weekday == 7
        if text.endswith("L"):
            return weekday == _parse_value(text[:-1], _DAYS, 1, 7, self.field) and day.day + 7 > last
        if "#" in text:
            name, _, nth = text.partition("#")
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise ScheduleError(f"cron day-of-week field: bad occurrence in {self.text!r}")
            return weekday == _parse_value(name, _DAYS, 1, 7, self.field) and (day.day - 1) // 7 + 1 == int(nth)
        return weekday in _parse_set(text, 1, 7, self.field, _DAYS)

    def validate(self) -> None:
        """Evaluate once so a malformed field fails at parse time, not at the first firing."""
        if self.field == "day-of-month" and re.fullmatch(r"L-\d+", self.text.upper()):
            raise ScheduleError("cron day-of-month field: L-n offsets are not supported locally")
        self.matches(date(2024, 1, 1))


@dataclass(frozen=True)
class CronSchedule:
    """A parsed EventBridge ``cron(...)`` expression (see the module docstring for the subset)."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_rule: _DayRule

    def next_after(self, moment: datetime) -> datetime:
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        while day.year <= MAX_YEAR:
            if day.year in self.years and day.month in self.months and self.day_rule.matches(day):
                found = self._first_time(day, start)
                if found is not None:
                    return found
            day += timedelta(days=1)
        raise ScheduleError(f"{self.expression} never fires again")

    def _first_time(self, day: date, start: datetime) -> datetime | None:
        for hour in sorted(self.hours):
            for minute in sorted(self.minutes):
                candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                if candidate >= start:
                    return candidate
        return None


def _parse_cron(body: str, expression: str) -> CronSchedule:
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleError(f"{expression}: cron needs 6 fields (min hour day-of-month month day-of-week year)")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"{expression}: exactly one of day-of-month and day-of-week must be '?'")
    rule = _DayRule("day-of-week", dow) if dom == "?" else _DayRule("day-of-month", dom)
    rule.validate()
    return CronSchedule(
        expression=expression,
        minutes=_parse_set(minute, 0, 59, "minutes"),
        hours=_parse_set(hour, 0, 23, "hours"),
        months=_parse_set(month, 1, 12, "month", _MONTHS),
        years=_parse_set(year, 1970, MAX_YEAR, "year"),
        day_rule=rule,
    )


def parse_schedule(expression: str, origin: datetime | None = None) -> RateSchedule | CronSchedule:
    """Parse an EventBridge schedule expression; ``origin`` is when a ``rate`` rule starts counting."""
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2)
        if amount == 0:
            raise ScheduleError(f"{expression}: the rate must be positive")
        if (amount == 1) != (not unit.endswith("s")):
            raise ScheduleError(f"{expression}: use '1 {unit.rstrip('s')}' or 'N {unit.rstrip('s')}s'")
        period = timedelta(seconds=amount * _UNITS[unit.rstrip("s")])
        return RateSchedule(period=period, origin=origin or datetime.now(UTC))
    cron = _CRON.match(expression)
    if cron:
        return _parse_cron(cron.group(1), expression)
    raise ScheduleError(f"{expression!r} is neither rate(N unit) nor cron(6 fields)")


class Clock(Protocol):
    """Time source of the scheduler: real time in the local cloud, a sped-up one in tests."""

    def now(self) -> datetime: ...

    async def sleep_until(self, moment: datetime) -> None: ...


class WallClock:
    """Real UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        await asyncio.sleep(max(0.0, (moment - self.now()).total_seconds()))


class ScaledClock:
    """Virtual UTC time running ``speed`` times faster than real time, from ``start``.

    A ``rate(1 minute)`` schedule on a 600x clock fires every 0.1 s of real time through the very
    parser and scheduler loop the local cloud uses.
    """

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        self.speed = speed
        self.start = start or datetime.now(UTC)
        self._real_start = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._real_start) * self.speed)

    async def sleep_until(self, moment: datetime) -> None:
        await asyncio.sleep(max(0.0, (moment - self.now()).total_seconds() / self.speed))


FireCallback = Callable[[str, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    """One rule: fire ``callback(name, scheduled_time)`` whenever ``schedule`` comes due."""

    name: str
    schedule: RateSchedule | CronSchedule
    callback: FireCallback


class Scheduler:
    """Runs each job's loop as a task; a failing callback is logged and the schedule keeps going."""

    def __init__(self, jobs: list[Job], clock: Clock | None = None) -> None:
        self.jobs = jobs
        self.clock = clock or WallClock()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for job in self.jobs:
            self._tasks.append(asyncio.create_task(self._run(job), name=f"schedule:{job.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _run(self, job: Job) -> None:
        due = job.schedule.next_after(self.clock.now())
        while True:
            await self.clock.sleep_until(due)
            try:
                await job.callback(job.name, due)
            except Exception:  # a rule whose target fails keeps firing, as in EventBridge
                log.exception("scheduled target %s failed", job.name)
            due = job.schedule.next_after(max(due, self.clock.now()))
