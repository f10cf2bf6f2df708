"""Which beats are served, which intervals trusted, and the beat-to-beat rate put into the served fhr trace.

Written against the survivors of ``make mutants MODULE=fhr_beats`` (scope: ``reported``, ``rate_on_grid``): the
suite's chains never started in the record's first quarter second, never had a lost 4 Hz sample lying between two
beats without covering one, and nothing looked at the beat rate itself, so its last interval, a two-beat chain
and its agreement with the spectral track went unchecked. Constructed chains with known times, as in
``test_beats_trust.py``; each test fails on one of those mutants.

The second half answers ``make mutants MODULE=fhr_beats_picking`` (``pick_beats``, the dynamic programme behind
the fetal and maternal chains), whose survivors the record-level tests could not see: no candidate at all, a lone
beat before lost signal, the end of the chain (window, expected RR there, a weak last beat), the strength cap, the
reach when the rhythm is not weighed, and the signal's units. Candidates are placed by hand, so the right chain is
known.
"""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr.beats import RR_MIN_HEIGHT, FetalBeats, pick_beats, rate_on_grid, reported
from handlers.fhr.fetal import FetalEvidence

FS = 250.0
GRID = np.arange(0, 30.0, 0.25)  # the 4 Hz output grid of a 30-s record
RANGE = (60.0 / 220.0, 60.0 / 70.0)
NOTHING_LOST = np.zeros(GRID.size, dtype=bool)


def chain(times_s: np.ndarray, height: np.ndarray | None = None) -> FetalBeats:
    h = np.ones(len(times_s)) if height is None else height
    return FetalBeats(samples=np.asarray(times_s) * FS, height=h, fs=FS)


def track(bpm: float | np.ndarray) -> tuple[FetalEvidence, np.ndarray]:
    """Spectral evidence every 0.25 s over the record and the tracked rate on it (only its times are read)."""
    times = np.arange(0.0, 30.0, 0.25) + 0.125
    rates = np.arange(70.0, 221.0)
    evidence = FetalEvidence(
        times=times,
        rates=rates,
        score=np.ones((times.size, rates.size)),
        quality=np.ones(times.size),
        channel_weight=np.ones((1, times.size)),
    )
    return evidence, np.broadcast_to(np.asarray(bpm, dtype=np.float64), times.shape).copy()


def covered_by(beats: np.ndarray) -> np.ndarray:
    """The grid times inside some interval of ``beats``: from the first beat up to (not at) the last."""
    grid = GRID
    return (grid >= beats[0]) & (grid < beats[-1])


def grid_index(times_s: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(times_s) / 0.25).astype(np.int64)


def test_a_chain_starting_in_the_first_quarter_second_is_trusted_from_its_first_beat() -> None:
    times = 0.0504 + 0.431 * np.arange(60)  # the first beat falls on grid sample 0; times to a tenth of a ms
    served, trusted = reported(chain(times), NOTHING_LOST, GRID, RANGE)
    assert np.array_equal(served, np.round(times, 3)) and not np.array_equal(served, np.round(times, 2))
    assert trusted.size == 59 and trusted.all()


def test_the_first_beat_is_judged_by_its_own_grid_sample() -> None:
    """Grid sample 0 valid, sample 1 lost: the beat at 0.05 s is served, and its interval (across the lost
    sample) is not trusted."""
    times = 0.05 + 0.43 * np.arange(60)
    lost = NOTHING_LOST.copy()
    lost[1] = True
    served, trusted = reported(chain(times), lost, GRID, RANGE)
    assert served[0] == 0.05 and served.size == 60
    assert np.flatnonzero(~trusted).tolist() == [0]


def test_one_lost_sample_between_two_beats_breaks_their_interval() -> None:
    """A single null 4 Hz sample lying strictly between two beats (not at either): their interval is not trusted."""
    times = 0.2 + 0.43 * np.arange(60)
    at = grid_index(times)
    j = int(np.flatnonzero(np.diff(at) == 2)[5]) + 1  # a beat two grid samples after the one before it
    lost = NOTHING_LOST.copy()
    lost[at[j] - 1] = True
    served, trusted = reported(chain(times), lost, GRID, RANGE)
    assert served.size == 60
    assert np.flatnonzero(~trusted).tolist() == [j - 1]


def test_a_beat_past_the_last_grid_sample_is_judged_by_the_last_sample() -> None:
    """A chain running to the record's end: the beat at 29.9 s rounds past the grid (29.75 s is its last
    sample) and is judged by that last sample, which is lost; the beat before it (on 29.5 s) stays."""
    times = 29.9 - 0.43 * np.arange(60)[::-1]
    lost = NOTHING_LOST.copy()
    lost[-1] = True
    served, trusted = reported(chain(times), lost, GRID, RANGE)
    assert np.array_equal(served, np.round(times[:-1], 3))
    assert trusted.all()


def test_a_beat_exactly_at_the_trusted_height_is_strong_enough() -> None:
    """Both beats must "reach" RR_MIN_HEIGHT of the typical beat: reaching it exactly is enough."""
    times = 0.2 + 0.43 * np.arange(60)
    height = np.ones(times.size)
    height[20] = RR_MIN_HEIGHT
    height[40] = np.nextafter(RR_MIN_HEIGHT, 0.0)
    _, trusted = reported(chain(times, height), NOTHING_LOST, GRID, RANGE)
    assert np.flatnonzero(~trusted).tolist() == [39, 40]


def test_a_two_sample_grid_places_each_beat_on_its_own_sample() -> None:
    """A half-second grid: the beat at 0.45 s is on sample 1 (0.25 s), which is lost, so only 0.05 s is served."""
    served, trusted = reported(chain(np.array([0.05, 0.45])), np.array([False, True]), GRID[:2], RANGE)
    assert served.tolist() == [0.05] and trusted.size == 0


def test_a_single_grid_sample_with_a_beat_on_it() -> None:
    """A grid of one sample (a record of a quarter second): the beat is placed on it, no interval exists."""
    served, trusted = reported(chain(np.array([0.1])), np.zeros(1, dtype=bool), GRID[:1], RANGE)
    assert served.tolist() == [0.1] and trusted.size == 0


def test_the_beat_rate_covers_every_interval_up_to_the_last_beat() -> None:
    rr = np.tile([0.40, 0.42, 0.41], 10)
    beats = 2.0 + np.concatenate(([0.0], np.cumsum(rr)))
    evidence, tracked = track(146.0)
    rate = rate_on_grid(beats, evidence, tracked, GRID, 12.0)
    inside = covered_by(beats)
    assert np.array_equal(np.isfinite(rate), inside)
    k = np.searchsorted(beats, GRID[inside], side="right") - 1
    np.testing.assert_allclose(rate[inside], 60.0 / rr[k])
    assert np.isfinite(rate[np.flatnonzero(inside)[-1]])  # the grid sample in the last interval too


def test_two_beats_give_the_rate_of_their_one_interval() -> None:
    evidence, tracked = track(150.0)
    rate = rate_on_grid(np.array([10.1, 10.5]), evidence, tracked, GRID, 12.0)
    assert np.flatnonzero(np.isfinite(rate)).tolist() == [41]  # 10.25 s, the one grid time in [10.1, 10.5)
    assert rate[41] == pytest.approx(150.0)


def test_no_beat_found_means_no_beat_and_no_interval() -> None:
    """Nothing to report: no beat and no trusted flag (the result zips one flag per interval, strictly)."""
    served, trusted = reported(chain(np.empty(0)), NOTHING_LOST, GRID, RANGE)
    assert served.size == 0 and trusted.size == 0


def test_the_beat_rate_is_used_up_to_the_tolerance_from_the_track_and_not_beyond() -> None:
    """Beats at exactly 120 bpm: a track 12 bpm away (the tolerance) keeps them, one 12.5 bpm away does not."""
    beats = 2.0 + 0.5 * np.arange(20)
    evidence, near = track(132.0)
    _, far = track(132.5)
    inside = covered_by(beats)
    kept = rate_on_grid(beats, evidence, near, GRID, 12.0)
    assert np.array_equal(np.isfinite(kept), inside) and (kept[inside] == 120.0).all()
    assert np.isnan(rate_on_grid(beats, evidence, far, GRID, 12.0)).all()


# --- pick_beats: the dynamic programme that chooses the chain (the fetal beats, and the maternal ones) ----------


def pick(
    positions: list[int],
    heights: list[float],
    rr: float | list[float] = 100.0,
    tightness: float = 25.0,
    typical: float | None = 1.0,
) -> list[int]:
    """The chain pick_beats chooses among candidate peaks at ``positions`` (samples) of the given heights, with
    the guided chain's settings (tightness 25, reach 0.6-1.6 RR), a typical beat of height 1 (None: the
    candidates' 75th percentile, as the guided chain and the maternal picker use it) and the expected RR (samples)
    at each peak."""
    peaks = np.asarray(positions, dtype=np.int64)
    signal = np.zeros(int(peaks.max()) + 1 if peaks.size else 1)
    signal[peaks] = heights
    expected = np.broadcast_to(np.asarray(rr, dtype=np.float64), peaks.shape)
    return pick_beats(signal, peaks, expected, tightness=tightness, typical=typical).tolist()


def test_no_candidate_peak_means_no_beat() -> None:
    assert pick([], []) == []


def test_a_regular_chain_is_chosen_whole_and_a_peak_between_beats_is_not() -> None:
    beats = list(range(0, 1001, 100))
    assert pick(sorted([*beats, 450]), [1.0] * 11 + [2.0]) == beats  # a strong noise peak half-way: not a beat


def test_a_lone_beat_before_lost_signal_is_kept_when_the_chain_resumes() -> None:
    """One strong beat, then 4 s of nothing (an electrode off), then a regular rhythm: the chain resumes after
    the gap from the best chain before it, the lone beat (beats before a gap are kept, as documented)."""
    assert pick([0, 500, 600, 700, 800], [3.0, 1.0, 1.0, 1.0, 1.0]) == [0, 500, 600, 700, 800]


def test_the_chain_reaches_a_weak_last_beat_after_a_missed_one() -> None:
    """The beat at 1000 is missing (no peak): the weak one at 1100 still ends the chain, the chain must reach the
    record's end rather than stop at its best-scoring beat."""
    positions = [*range(0, 901, 100), 1100]
    assert pick(positions, [1.0] * 10 + [0.5]) == positions


def test_a_weak_peak_after_the_last_beat_does_not_end_the_chain() -> None:
    """A small peak 0.7 RR after the last beat (noise at the record's end) is not served as a beat."""
    beats = list(range(0, 1001, 100))
    assert pick([*beats, 1070], [1.0] * 11 + [0.3]) == beats


def test_the_end_of_the_chain_is_sought_at_the_rate_expected_there() -> None:
    """The expected RR moves (150 samples at the start, 100 later, 130 at the second-last peak, 100 at the last),
    then a beat is missed before a weak last one: the chain still ends on it, the window for its end being 1.6 of
    the last peak's expected RR (a window from the first or the second-last one would reach back to the strong
    beat at 950 and end the chain there)."""
    positions = [0, 150, *range(250, 951, 100), 1150]
    expected = [150.0, 150.0] + [100.0] * (len(positions) - 4) + [130.0, 100.0]
    assert pick(positions, [1.0] * (len(positions) - 2) + [2.0, 0.5], expected) == positions


def test_with_the_rhythm_ignored_the_reach_alone_keeps_a_too_close_peak_out() -> None:
    """beat_tightness 0 (an option: the rhythm is not weighed) leaves only the reach: a peak 0.5 RR after a beat
    is never that beat's successor, so the chain keeps to the beats even though taking it would add strength."""
    beats = list(range(0, 1001, 100))
    assert pick(sorted([*beats, 450]), [1.0] * 5 + [0.5] + [1.0] * 6, tightness=0.0) == beats


def test_a_tall_artefact_beside_a_beat_does_not_replace_it() -> None:
    """A peak ten times the typical beat 22 samples after a beat: swapping the beat for it costs 2.5 in rhythm and
    would gain 9 in strength, but a peak's strength is capped at 3 typical beats, so the beat stays."""
    beats = list(range(0, 1001, 100))
    assert pick(sorted([*beats, 522]), [1.0] * 6 + [10.0] + [1.0] * 5) == beats


@pytest.mark.parametrize("units", [1e-3, 1.0, 1e3])
def test_the_chain_does_not_depend_on_the_signals_units(units: float) -> None:
    """Strength is a peak's height over the candidates' typical height: the same beats are chosen whether the
    detection signal is in thousandths or thousands (the artefact and the too-close weak peak stay out)."""
    beats = list(range(0, 1001, 100))
    heights = np.asarray([1.0] * 6 + [10.0] + [1.0] * 5) * units
    assert pick(sorted([*beats, 522]), heights.tolist(), typical=None) == beats
    heights = np.asarray([1.0] * 5 + [0.5] + [1.0] * 6) * units
    assert pick(sorted([*beats, 450]), heights.tolist(), tightness=0.0, typical=None) == beats
