"""Time measured inside invocations only: what a frozen execution environment cannot see pass.

Between invocations Lambda freezes the environment; wall time (``time.monotonic``, ``perf_counter``)
keeps running, so a task that started in one invocation and ends in a later one measures the frozen
gap as if it had worked through it. :func:`invocation_time` is monotonic time minus every interval
spent between an answered invocation and the next event (the runtime's loop marks both ends), so the
difference of two readings counts only time during invocations. Under a runtime that does not mark
them (awslambdaric), it is plain monotonic time.
"""

from __future__ import annotations

import time

_between_total = 0.0
_between_since: float | None = None


def answered() -> None:
    """The invocation's answer is accepted: from now until the next event the environment may be frozen."""
    global _between_since
    if _between_since is None:
        _between_since = time.monotonic()


def next_event() -> None:
    """An event arrived: time counts again."""
    global _between_total, _between_since
    if _between_since is not None:
        _between_total += time.monotonic() - _between_since
        _between_since = None


def invocation_time() -> float:
    """Seconds of monotonic time spent outside the gaps between invocations (a reading, for differences)."""
    now = time.monotonic()
    gap = _between_total + (now - _between_since if _between_since is not None else 0.0)
    return now - gap
