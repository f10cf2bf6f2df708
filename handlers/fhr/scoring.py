"""FHR accuracy scoring after the PhysioNet/CinC Challenge 2013 event-4 rules (see ../shared/SCORING.md).

Reference FHR per window: the number of reference RR intervals inside a 6-s window, counting the
fractions of the intervals cut by the window edges (an IPFM-style count), times 60 / 6 s. Windows
step by 3 s and must end strictly before the end of the record, which gives 18 windows for a 60-s
record; the first and the last are dropped (16 remain, the "at most 16 values" of the rules), and so
is any window not spanned by reference beats or holding a reference gap (an RR interval longer than
``GAP_FACTOR`` times the record's median RR: a missed beat in the annotation).

Test FHR per window: the mean of the 4 Hz trace's valid samples whose time falls inside the window;
a window with no valid sample counts as 0 bpm. Record score = mean squared error (bpm^2); set score
= mean of record scores. Also: MAE, share within 5 / 10 bpm, coverage, and maternal/fetal confusion
(estimate within 5 bpm of the maternal rate while the reference differs from it by 15 bpm or more).

Beats (:func:`score_beats`), against the same reference annotation:

- detection: each reported beat is matched to its nearest reference beat; a reference beat with
  at least one reported beat within ``BEAT_WINDOW_S`` (50 ms) is a true positive, every other
  reported beat a false positive, every unmatched reference beat a false negative (the FECGSYN /
  Challenge ``Bxb_compare`` convention behind the published set-a anchors). F1 = 2TP / (2TP + FP +
  FN), per record; a split reports the mean over records (as the anchors do). The reference of some
  records starts a second or more after the record does, or ends before it; beats reported there
  count as false positives in ``f1`` (as in the anchors) and are left out of ``f1_in_span``.
- RR intervals (Challenge 2013 events 2/5: reference and test RR series compared measurement by
  measurement, WFDB ``mxm`` style): for every plausible reference interval (both beats annotated,
  :func:`variability.plausible_intervals`), the test interval in effect at its ending beat (the
  reported interval ending at the last reported beat within ``BEAT_WINDOW_S`` after it) is its
  measurement; RMSE over the reference intervals that a *trusted* reported interval covers, with
  that share as ``rr_coverage`` (an untrusted stretch is not a wrong measurement but no
  measurement). A split reports the mean of record RMSEs (the challenge's aggregate).
  ``rr_rmse_strict_ms`` is the challenge's own reading, without either filter: every reference
  interval that is not a gap in the annotation (over ``GAP_FACTOR`` times the median), against the
  reported interval in effect whether trusted or not.
- minute STV (:mod:`variability`) from the reported beats and their trust flags, against the same
  definition applied to the reference beats; per minute where both are valid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

WINDOW_S = 6.0
BEAT_WINDOW_S = 0.05
STEP_S = 3.0
GAP_FACTOR = 1.5
DEV_RECORDS = tuple(f"a{i:02d}" for i in range(1, 41))
ACCEPTANCE_RECORDS = tuple(f"a{i:02d}" for i in range(41, 76))
EXCLUDED_RECORDS = frozenset({"a33", "a38", "a47", "a52", "a54", "a71", "a74"})
# Published anchors (bpm^2, lower is better), quoted from SCORING.md.
ANCHORS = {
    "event 4, set B: Andreotti": 18.8,
    "event 4, set B: Lipponen": 28.9,
    "event 1, set C: Varanini": 187.1,
    "event 1, set C: Podziemski": 256.0,
}


@dataclass(frozen=True)
class RecordScore:
    record: str
    windows: int
    mse: float
    mae: float
    within_5: float
    within_10: float
    coverage: float
    confusion: int
    reference_bpm: tuple[float, ...]
    test_bpm: tuple[float | None, ...]

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SetScore:
    records: int
    windows: int
    score: float  # mean over records of the record MSE (bpm^2)
    mae: float  # over all windows
    within_5: float
    within_10: float
    coverage: float
    confusion: int

    def as_dict(self) -> dict:
        return asdict(self)


def window_starts(duration_s: float) -> np.ndarray:
    """Starts of every 6-s window (3-s step) ending strictly before the record end, first and last dropped."""
    count = int(np.floor((duration_s - WINDOW_S) / STEP_S - 1e-9)) + 1 if duration_s > WINDOW_S else 0
    starts = np.arange(count) * STEP_S
    return starts[1:-1] if starts.size > 2 else starts[:0]


def ipfm_count(beats_s: np.ndarray, start: float, end: float) -> float:
    """RR intervals inside [start, end], each cut interval counted by the fraction of it inside."""
    left, right = beats_s[:-1], beats_s[1:]
    overlap = np.clip(np.minimum(right, end) - np.maximum(left, start), 0.0, None)
    return float((overlap / (right - left)).sum())


def reference_fhr(beats_s: np.ndarray, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(window starts, reference bpm) for the windows the rules keep."""
    beats_s = np.sort(np.asarray(beats_s, dtype=np.float64))
    starts = window_starts(duration_s)
    if beats_s.size < 3:
        return starts[:0], starts[:0]
    rr = np.diff(beats_s)
    gap_limit = GAP_FACTOR * float(np.median(rr))
    kept_starts, values = [], []
    for start in starts:
        end = start + WINDOW_S
        if beats_s[0] > start or beats_s[-1] < end:
            continue
        touching = (beats_s[1:] > start) & (beats_s[:-1] < end)
        if (rr[touching] > gap_limit).any():
            continue
        kept_starts.append(start)
        values.append(ipfm_count(beats_s, start, end) * 60.0 / WINDOW_S)
    return np.asarray(kept_starts), np.asarray(values)


def trace_window_means(bpm: np.ndarray, t0: float, fs: float, starts: np.ndarray) -> np.ndarray:
    """Mean of the trace's valid (finite) samples inside each window; NaN where none is valid."""
    bpm = np.asarray(bpm, dtype=np.float64)
    times = t0 + np.arange(bpm.size) / fs
    out = np.full(starts.size, np.nan)
    for i, start in enumerate(starts):
        inside = (times >= start) & (times < start + WINDOW_S) & np.isfinite(bpm)
        if inside.any():
            out[i] = float(bpm[inside].mean())
    return out


def score_record(
    name: str,
    reference_beats_s: np.ndarray,
    duration_s: float,
    fhr_bpm: np.ndarray,
    *,
    t0: float = 0.0,
    fs: float = 4.0,
    mhr_bpm: np.ndarray | None = None,
) -> RecordScore:
    """Score one record's 4 Hz FHR trace against its reference fetal beats."""
    starts, reference = reference_fhr(reference_beats_s, duration_s)
    test = trace_window_means(fhr_bpm, t0, fs, starts)
    covered = np.isfinite(test)
    error = np.where(covered, test, 0.0) - reference
    confusion = 0
    if mhr_bpm is not None and starts.size:
        maternal = trace_window_means(mhr_bpm, t0, fs, starts)
        confused = covered & np.isfinite(maternal) & (np.abs(test - maternal) <= 5.0)
        confusion = int((confused & (np.abs(reference - maternal) >= 15.0)).sum())
    n = max(starts.size, 1)
    return RecordScore(
        record=name,
        windows=int(starts.size),
        mse=float((error**2).sum() / n),
        mae=float(np.abs(error).sum() / n),
        within_5=float((np.abs(error) <= 5.0).sum() / n),
        within_10=float((np.abs(error) <= 10.0).sum() / n),
        coverage=float(covered.sum() / n),
        confusion=confusion,
        reference_bpm=tuple(round(float(v), 3) for v in reference),
        test_bpm=tuple(round(float(v), 3) if np.isfinite(v) else None for v in test),
    )


def score_set(records: list[RecordScore]) -> SetScore:
    """Set score = mean of record MSEs; the other figures pool every window of the set."""
    scored = [r for r in records if r.windows > 0]
    if not scored:
        return SetScore(0, 0, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), 0)
    pairs = [(t, ref) for r in scored for t, ref in zip(r.test_bpm, r.reference_bpm, strict=True)]
    errors = np.asarray([(t if t is not None else 0.0) - ref for t, ref in pairs])
    covered = sum(sum(t is not None for t in r.test_bpm) for r in scored)
    return SetScore(
        records=len(scored),
        windows=int(errors.size),
        score=float(np.mean([r.mse for r in scored])),
        mae=float(np.abs(errors).mean()),
        within_5=float((np.abs(errors) <= 5.0).mean()),
        within_10=float((np.abs(errors) <= 10.0).mean()),
        coverage=float(covered / errors.size),
        confusion=int(sum(r.confusion for r in scored)),
    )


@dataclass(frozen=True)
class BeatScore:
    record: str
    tp: int
    fp: int
    fn: int
    f1: float
    f1_in_span: float  # F1 without the reported beats outside the reference's annotated span
    rr_rmse_ms: float | None  # None: no reference interval covered by a trusted reported one
    rr_coverage: float
    rr_rmse_strict_ms: float | None
    stv_reference_ms: tuple[float | None, ...]  # per minute
    stv_test_ms: tuple[float | None, ...]

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BeatSetScore:
    records: int
    f1_mean: float  # mean of record F1 (the anchors' figure)
    f1_in_span_mean: float
    f1_gross: float  # from the pooled TP/FP/FN
    rr_rmse_mean_ms: float  # mean of record RMSEs (Challenge 2013 events 2/5 aggregate)
    rr_coverage: float  # mean over records of the share of reference intervals covered
    rr_rmse_strict_mean_ms: float
    stv_minutes: int  # minutes with a valid STV from both
    stv_abs_diff_median_ms: float
    stv_abs_diff_p90_ms: float

    def as_dict(self) -> dict:
        return asdict(self)


def match_beats(reference_s: np.ndarray, test_s: np.ndarray, window_s: float = BEAT_WINDOW_S) -> tuple[int, int, int]:
    """(TP, FP, FN) as ``Bxb_compare``: nearest reference per test beat, unique matches within the window."""
    reference_s = np.asarray(reference_s, dtype=np.float64)
    test_s = np.asarray(test_s, dtype=np.float64)
    if reference_s.size == 0 or test_s.size == 0:
        return 0, int(test_s.size), int(reference_s.size)
    right = np.clip(np.searchsorted(reference_s, test_s), 1, max(reference_s.size - 1, 1))
    left = right - 1
    if reference_s.size == 1:
        nearest = np.zeros(test_s.size, dtype=np.int64)
    else:
        nearest = np.where(np.abs(test_s - reference_s[left]) <= np.abs(test_s - reference_s[right]), left, right)
    matched = np.unique(nearest[np.abs(test_s - reference_s[nearest]) < window_s])
    return int(matched.size), int(test_s.size - matched.size), int(reference_s.size - matched.size)


def f1_score(tp: int, fp: int, fn: int) -> float:
    return 2.0 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def rr_errors_ms(
    reference_s: np.ndarray,
    test_s: np.ndarray,
    trusted: np.ndarray,
    window_s: float = BEAT_WINDOW_S,
    *,
    strict: bool = False,
) -> tuple[np.ndarray, int]:
    """Errors (ms) of the test intervals in effect at each plausible reference interval's end, where
    that test interval is trusted; and how many plausible reference intervals there were.
    ``strict``: every reference interval but annotation gaps, and every test interval in effect."""
    from handlers.fhr.variability import plausible_intervals

    reference_s = np.asarray(reference_s, dtype=np.float64)
    test_s = np.asarray(test_s, dtype=np.float64)
    if reference_s.size < 2:
        return np.zeros(0), 0
    rr = np.diff(reference_s)
    kept = rr <= GAP_FACTOR * float(np.median(rr)) if strict else plausible_intervals(reference_s)
    ends = reference_s[1:][kept]
    last = np.searchsorted(test_s, ends + window_s, side="right") - 1  # test interval last-1 -> last
    covered = last >= 1
    if not strict:
        covered[covered] &= np.asarray(trusted, dtype=bool)[last[covered] - 1]
    test_rr = test_s[last[covered]] - test_s[last[covered] - 1]
    return 1000.0 * (test_rr - rr[kept][covered]), int(ends.size)


def minute_stv(beat_s: np.ndarray, trusted: np.ndarray, duration_s: float) -> np.ndarray:
    """Minute STV (ms, NaN = invalid) of beats with per-interval trust flags (:mod:`variability`)."""
    from handlers.fhr import variability

    return variability.minutes(variability.epochs(beat_s, trusted, duration_s)).stv_ms


def score_beats(
    name: str, reference_s: np.ndarray, duration_s: float, test_s: np.ndarray, trusted: np.ndarray
) -> BeatScore:
    """Detection, RR and minute-STV scores of one record's reported beats (see the module doc)."""
    from handlers.fhr.variability import plausible_intervals

    reference_s = np.sort(np.asarray(reference_s, dtype=np.float64))
    test_s = np.asarray(test_s, dtype=np.float64)
    tp, fp, fn = match_beats(reference_s, test_s)
    in_span = (
        (test_s >= reference_s[0] - BEAT_WINDOW_S) & (test_s <= reference_s[-1] + BEAT_WINDOW_S)
        if reference_s.size
        else np.zeros(test_s.size, dtype=bool)
    )
    errors, intervals = rr_errors_ms(reference_s, test_s, trusted)
    strict, _ = rr_errors_ms(reference_s, test_s, trusted, strict=True)
    reference_stv = minute_stv(reference_s, plausible_intervals(reference_s), duration_s)
    test_stv = minute_stv(test_s, trusted, duration_s)
    return BeatScore(
        record=name,
        tp=tp,
        fp=fp,
        fn=fn,
        f1=f1_score(tp, fp, fn),
        f1_in_span=f1_score(*match_beats(reference_s, test_s[in_span])),
        rr_rmse_ms=float(np.sqrt(np.mean(errors**2))) if errors.size else None,
        rr_coverage=errors.size / intervals if intervals else 0.0,
        rr_rmse_strict_ms=float(np.sqrt(np.mean(strict**2))) if strict.size else None,
        stv_reference_ms=tuple(round(float(v), 3) if np.isfinite(v) else None for v in reference_stv),
        stv_test_ms=tuple(round(float(v), 3) if np.isfinite(v) else None for v in test_stv),
    )


def score_beat_set(records: list[BeatScore]) -> BeatSetScore:
    """Split figures: mean and gross F1, mean RR RMSE, pooled coverage, minute-STV differences."""
    if not records:
        nan = float("nan")
        return BeatSetScore(0, nan, nan, nan, nan, nan, nan, 0, nan, nan)
    rmse = [r.rr_rmse_ms for r in records if r.rr_rmse_ms is not None]
    strict = [r.rr_rmse_strict_ms for r in records if r.rr_rmse_strict_ms is not None]
    tp, fp, fn = (sum(getattr(r, k) for r in records) for k in ("tp", "fp", "fn"))
    diffs = np.asarray(
        [
            abs(t - ref)
            for r in records
            for ref, t in zip(r.stv_reference_ms, r.stv_test_ms, strict=True)
            if ref is not None and t is not None
        ]
    )
    return BeatSetScore(
        records=len(records),
        f1_mean=float(np.mean([r.f1 for r in records])),
        f1_in_span_mean=float(np.mean([r.f1_in_span for r in records])),
        f1_gross=f1_score(tp, fp, fn),
        rr_rmse_mean_ms=float(np.mean(rmse)) if rmse else float("nan"),
        rr_coverage=float(np.mean([r.rr_coverage for r in records])),
        rr_rmse_strict_mean_ms=float(np.mean(strict)) if strict else float("nan"),
        stv_minutes=int(diffs.size),
        stv_abs_diff_median_ms=float(np.median(diffs)) if diffs.size else float("nan"),
        stv_abs_diff_p90_ms=float(np.percentile(diffs, 90)) if diffs.size else float("nan"),
    )


def read_reference_beats(directory: Path, record: str) -> np.ndarray:
    """Reference fetal QRS times (s) from ``derived/<record>.fqrs.txt`` or ``<record>.fqrs.txt`` (milliseconds)."""
    for candidate in (directory / "derived" / f"{record}.fqrs.txt", directory / f"{record}.fqrs.txt"):
        if candidate.exists():
            values = np.loadtxt(candidate, ndmin=1, usecols=0)
            return np.asarray(values, dtype=np.float64) / 1000.0
    raise FileNotFoundError(f"no reference fetal QRS for {record} in {directory} (expected derived/{record}.fqrs.txt)")


def parse_record_range(text: str) -> list[str]:
    """'a01-a40' or 'a01,a05,a41-a43' -> record names, in order."""
    import re

    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"([A-Za-z_]*)(\d+)-([A-Za-z_]*)(\d+)", part)
        if match:
            prefix, low, _, high = match.groups()
            names.extend(f"{prefix}{i:0{len(low)}d}" for i in range(int(low), int(high) + 1))
        elif part:
            names.append(part)
    return names
