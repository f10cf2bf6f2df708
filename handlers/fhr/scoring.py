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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

WINDOW_S = 6.0
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
