"""How long an execution environment lives: reclaimed after an idle time, recycled after a lifetime.

Lambda does not document either figure. Public measurements (environments kept warm by a request
every few minutes, left idle until the next cold start) put the idle reclaim between about 5 and 15
minutes, varying per environment, and show that even busy environments are replaced after a few hours
(runtime updates, host maintenance). The defaults follow those observations; every environment draws
its own values (jitter), so environments created together do not all expire together:

* idle: uniform in [``idle_s[0]``, ``idle_s[1]``], default 5-15 min, counted from the end of its
  last invocation (an invocation cancels the countdown);
* lifetime: uniform in [``lifetime_s[0]``, ``lifetime_s[1]``], default 2-4 h from its start; an
  environment past it is retired when its current invocation ends instead of going back to the pool.

Short limits make cold starts, and the value of the keep-warm schedule, measurable in seconds
(``fhr local --idle-timeout 3 --max-lifetime 600``, ``Lifecycle(idle_s=(3, 3))`` in tests).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

DEFAULT_IDLE_S = (300.0, 900.0)
DEFAULT_LIFETIME_S = (7200.0, 14400.0)
_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?$")


@dataclass(frozen=True)
class Lifecycle:
    """The idle and lifetime limits environments draw theirs from (seconds, inclusive ranges)."""

    idle_s: tuple[float, float] = DEFAULT_IDLE_S
    lifetime_s: tuple[float, float] = DEFAULT_LIFETIME_S
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, (low, high) in (("idle", self.idle_s), ("lifetime", self.lifetime_s)):
            if not 0 < low <= high:
                raise ValueError(f"{name} range must satisfy 0 < low <= high, got {low}-{high}")

    def draw_idle_s(self) -> float:
        return self.rng.uniform(*self.idle_s)

    def draw_lifetime_s(self) -> float:
        return self.rng.uniform(*self.lifetime_s)


def parse_range(text: str) -> tuple[float, float]:
    """``"600"`` -> (600, 600); ``"300-900"`` -> (300, 900): the CLI's way to give a limit or a range."""
    match = _RANGE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not SECONDS or LOW-HIGH seconds")
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) else low
    if not 0 < low <= high:
        raise ValueError(f"{text!r}: need 0 < low <= high")
    return low, high
