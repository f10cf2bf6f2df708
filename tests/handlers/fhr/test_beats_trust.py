"""Which fetal beats the result reports and which RR intervals it trusts, on constructed beat chains."""

from __future__ import annotations

import numpy as np

from handlers.fhr.beats import RR_MIN_HEIGHT, FetalBeats, reported

FS = 250.0
GRID = np.arange(0, 30.0, 0.25)  # the 4 Hz output grid of a 30-s record
RANGE = (60.0 / 220.0, 60.0 / 70.0)


def chain(times_s: np.ndarray, height: np.ndarray | None = None) -> FetalBeats:
    h = np.ones(times_s.size) if height is None else height
    return FetalBeats(samples=np.asarray(times_s) * FS, height=h, fs=FS)


def test_a_clean_chain_is_reported_whole_to_the_millisecond_and_trusted() -> None:
    times = 0.2 + 0.43 * np.arange(60) + 0.0004  # 0.4 ms past the millisecond
    served, trusted = reported(chain(times), np.zeros(GRID.size, dtype=bool), GRID, RANGE)
    assert np.array_equal(served, np.round(times, 3)) and trusted.all() and trusted.size == 59


def test_no_beat_is_reported_where_the_rate_is_lost_and_the_gap_is_not_an_interval() -> None:
    times = 0.2 + 0.43 * np.arange(60)
    lost = (GRID >= 10.0) & (GRID < 14.0)
    served, trusted = reported(chain(times), lost, GRID, RANGE)
    assert not ((served > 10.1) & (served < 13.9)).any()
    gap = int(np.flatnonzero(np.diff(served) > 1.0)[0])  # the interval spanning the lost stretch
    assert not trusted[gap]
    assert trusted[:gap].all() and trusted[gap + 1 :].all()


def test_a_weak_beat_makes_both_its_intervals_untrusted_but_stays_reported() -> None:
    times = 0.2 + 0.43 * np.arange(60)
    height = np.ones(times.size)
    height[20] = RR_MIN_HEIGHT / 2
    served, trusted = reported(chain(times, height), np.zeros(GRID.size, dtype=bool), GRID, RANGE)
    assert served.size == times.size
    assert np.flatnonzero(~trusted).tolist() == [19, 20]


def test_a_missed_beat_is_an_implausible_interval() -> None:
    times = np.delete(0.2 + 0.43 * np.arange(60), 30)
    served, trusted = reported(chain(times), np.zeros(GRID.size, dtype=bool), GRID, RANGE)
    assert np.flatnonzero(~trusted).tolist() == [29]
