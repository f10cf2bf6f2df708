"""A CTG summary that says only what the record supports.

Each item is computed only when the record is long enough for its definition and has the signal
for it; otherwise it is ``null`` and ``not_assessed`` carries the item with its reason:

- ``insufficient_duration``: the record is shorter than the definition needs (FIGO 2015 baseline,
  variability and events: 10 min; the Dawes-Redman analysis: 10 min; a sinusoidal pattern: 30 min);
- ``signal_loss``: long enough, but too little of it has a rate (or trusted beats) to apply it;
- ``indeterminate``: the signal is there but no stable 10-min window exists to take a baseline from;
- ``needs_uterine_activity``: deceleration typing (early / late / variable, repetitive) and
  tachysystole are defined against contractions, which this service does not measure: always listed.

Definitions (FIGO 2015 intrapartum fetal monitoring consensus, Ayres-de-Campos et al., Int J
Gynaecol Obstet 2015;131:13-24; NICE CG190 practice; Dawes-Redman items in :mod:`variability`):

- baseline: the mean FHR over the stable 10-min windows (one every minute), accelerations and
  decelerations excluded, rounded to 5 bpm. A window is stable when at least half of it has a
  rate and its event-free samples spread less than 25 bpm between their 5th and 95th percentiles
  (the bandwidth limit of normal variability). No stable window: the baseline is indeterminate.
- variability: the median, over minutes with a rate for at least half of the minute, of the
  minute's max-min amplitude of the event-free trace; reduced below 5 bpm, normal 5-25, increased
  above 25 (FIGO's pathological "reduced"/"increased" need that for > 50 / > 30 min: :mod:`figo`).
- acceleration: FHR (its 4-s moving mean) at least 15 bpm above the baseline for at least 15 s;
  deceleration: at least 15 bpm below for at least 15 s. Each spans from its onset to its return,
  where the trend leaves and rejoins the baseline (within 5 bpm), not just the part beyond 15 bpm:
  its flanks are part of the event, and must not count as variability. Each with start/end time
  (s) and the extreme deviation.
- sinusoidal pattern (FIGO 2015: "a regular, smooth, undulating signal, resembling a sine wave,
  with an amplitude of 5-15 bpm, and a frequency of 3-5 cycles per minute ... lasting more than
  30 min and coinciding with absent accelerations"): in 2-min windows (one every minute) with a
  rate for at least 90 % of the window, the detrended trace's power in 3-5 cycles/min is at least
  ``SINUS_MIN_SHARE`` of its power in 1-15 cycles/min and that band's peak-to-trough amplitude is
  5-15 bpm; the flag is true when such windows cover more than 30 min in one run without an
  acceleration.
- STV, LTV, episodes of high/low variation: :mod:`variability`, from the trusted beats.
- signal loss: the share of 4 Hz samples with no rate (null), in percent.
- FIGO class: :mod:`figo`.
"""

from __future__ import annotations

import numpy as np

from handlers.fhr import variability
from handlers.fhr.figo import VARIABILITY_NORMAL_BPM, Features, classify
from handlers.fhr.variability import runs

SEGMENT_S = 600.0  # FIGO 2015: the baseline is taken over 10-min windows
BASELINE_MIN_S = SEGMENT_S  # and so are the variability and the events relative to it
DAWES_MIN_S = 600.0  # the Dawes-Redman analysis starts at 10 min (Pardey et al. 2002)
SINUSOIDAL_MIN_S = 30 * 60.0  # FIGO 2015: a sinusoidal pattern lasts more than 30 min
SINUS_WINDOW_S = 120.0
SINUS_BAND_CPM = (3.0, 5.0)
SINUS_REFERENCE_CPM = (1.0, 15.0)
SINUS_MIN_SHARE = 0.6  # "regular, smooth": most of the oscillation in the 3-5 cycles/min band
SINUS_AMPLITUDE_BPM = (5.0, 15.0)
SINUS_MIN_VALID = 0.9
STABLE_SPREAD_BPM = 25.0
STABLE_PERCENTILES = (5.0, 95.0)  # the spread of a window, robust to the odd outlying second
MIN_VALID_SHARE = 0.5  # a window or minute needs a rate (or trusted beats) for at least half of it
STV_WARNING_MS = 3.0  # Dawes-Redman: a record STV under 3 ms is the classic warning
UNDECIDED = {
    "insufficient_duration": "FIGO's baseline, variability and decelerations need at least 10 min of record",
    "signal_loss": "too little of the record has a fetal rate",
    "indeterminate": "no stable 10-min window to take a baseline from",
}
EVENT_DELTA_BPM = 15.0
EVENT_MIN_S = 15.0
ONSET_DELTA_BPM = 5.0


def _smooth(bpm: np.ndarray, fs: float, seconds: float = 4.0) -> np.ndarray:
    """NaN-aware centred moving mean: events are judged on the trend, as on a paper CTG, not on
    beat-to-beat jitter (which would split one acceleration into short pieces)."""
    width = max(1, int(seconds * fs))
    finite = np.isfinite(bpm)
    kernel = np.ones(width)
    total = np.convolve(np.where(finite, bpm, 0.0), kernel, mode="same")
    count = np.convolve(finite.astype(float), kernel, mode="same")
    out = np.full(bpm.size, np.nan)
    enough = (count >= 0.5 * width) & finite
    out[enough] = total[enough] / count[enough]
    return out


def _events(bpm: np.ndarray, reference: np.ndarray, fs: float, sign: float) -> list[dict]:
    deviation = np.nan_to_num(sign * (_smooth(bpm, fs) - reference), nan=-np.inf)
    # Runs beyond the onset margin; an event is such a run holding a qualifying (>= 15 bpm, >= 15 s) core.
    flanks = runs(deviation >= ONSET_DELTA_BPM)
    found: list[dict] = []
    for core_start, core_end in runs(deviation >= EVENT_DELTA_BPM):
        if (core_end - core_start) / fs < EVENT_MIN_S:
            continue
        start, end = next((a, b) for a, b in flanks if a <= core_start and core_end <= b)
        if found and start / fs <= found[-1]["end_s"]:
            continue  # a second core inside the same departure from baseline: one event
        found.append(
            {
                "start_s": round(start / fs, 2),
                "end_s": round(end / fs, 2),
                "duration_s": round((end - start) / fs, 2),
                "peak_delta_bpm": round(float(np.max(deviation[start:end])), 1),
            }
        )
    return found


def _segment_reference(bpm: np.ndarray, fs: float) -> np.ndarray:
    """A first, event-tolerant baseline: each segment's median, so events can be found against it."""
    reference = np.full(bpm.size, np.nan)
    length = max(1, int(SEGMENT_S * fs))
    for start in range(0, bpm.size, length):
        chunk = bpm[start : start + length]
        if np.isfinite(chunk).any():
            reference[start : start + length] = np.nanmedian(chunk)
    return reference


def summarise(bpm: np.ndarray, fs: float, beat_s: np.ndarray | None = None, trusted: np.ndarray | None = None) -> dict:
    """The summary dict of the result (see the module docstring for every definition).

    ``bpm``: the 4 Hz FHR (NaN = no rate); ``beat_s`` and ``trusted``: the reported fetal beats (s)
    and the trust flag of each interval between them (None: the record has no beats, e.g. a trace
    that did not come from an ECG), for the Dawes-Redman items.
    """
    bpm = np.asarray(bpm, dtype=np.float64)
    duration_s = bpm.size / fs
    loss = float(np.mean(~np.isfinite(bpm)) * 100.0) if bpm.size else 100.0
    summary: dict = {
        "duration_s": round(duration_s, 2),
        "baseline_bpm": None,
        "baseline_class": None,
        "baseline_method": "FIGO 2015: mean of the stable 10-min windows, events excluded, rounded to 5 bpm",
        "variability_bpm": None,
        "variability_class": None,
        "accelerations": None,
        "decelerations": None,
        "sinusoidal": None,
        "stv_ms": None,
        "stv_warning": None,
        "ltv_ms": None,
        "high_variation_episodes": None,
        "low_variation_episodes": None,
        "signal_loss_percent": round(loss, 2),
    }
    missing: dict[str, str] = {}
    calm, minute_amplitudes, decelerations = _figo_features(bpm, fs, summary, missing)
    _sinusoidal(bpm, fs, summary, missing)
    _dawes_items(beat_s, trusted, duration_s, decelerations, summary, missing)
    summary["figo"] = classify(
        Features(
            baseline_bpm=summary["baseline_bpm"],
            variability_bpm=summary["variability_bpm"],
            reduced_variability_s=60.0 * float(np.count_nonzero(minute_amplitudes < VARIABILITY_NORMAL_BPM[0])),
            increased_variability_s=60.0 * float(np.count_nonzero(minute_amplitudes > VARIABILITY_NORMAL_BPM[1])),
            deceleration_durations_s=None if decelerations is None else tuple(e["duration_s"] for e in decelerations),
            sinusoidal=summary["sinusoidal"],
        )
    )
    if summary["figo"]["class"] is None:
        for item in ("baseline_bpm", "variability_bpm", "decelerations"):
            if item in missing:
                summary["figo"]["undecided"] = f"{item} not assessed ({missing[item]}): {UNDECIDED[missing[item]]}"
                break
    summary["not_assessed"] = [{"item": item, "reason": reason} for item, reason in missing.items()] + [
        {"item": "deceleration_type", "reason": "needs_uterine_activity"},
        {"item": "tachysystole", "reason": "needs_uterine_activity"},
    ]
    return summary


def _figo_features(
    bpm: np.ndarray, fs: float, summary: dict, missing: dict[str, str]
) -> tuple[np.ndarray, np.ndarray, list[dict] | None]:
    """Baseline, variability, accelerations and decelerations into ``summary`` (or their reasons into
    ``missing``); returns the event-free trace, its minute amplitudes and the decelerations."""
    items = ("baseline_bpm", "variability_bpm", "accelerations", "decelerations")
    none = np.zeros(0)
    if bpm.size / fs < BASELINE_MIN_S:
        missing.update(dict.fromkeys(items, "insufficient_duration"))
        return bpm, none, None
    if not np.isfinite(bpm).any():
        missing.update(dict.fromkeys(items, "signal_loss"))
        return bpm, none, None
    reference = _segment_reference(bpm, fs)
    accelerations = _events(bpm, reference, fs, +1.0)
    decelerations = _events(bpm, reference, fs, -1.0)
    calm = bpm.copy()
    for event in accelerations + decelerations:
        calm[int(event["start_s"] * fs) : int(event["end_s"] * fs)] = np.nan
    baseline, reason = _baseline(calm, fs, np.isfinite(bpm))
    if baseline is None:
        missing.update(dict.fromkeys(items, reason))
        return calm, none, None
    summary["baseline_bpm"] = baseline
    summary["baseline_class"] = "bradycardia" if baseline < 110 else "tachycardia" if baseline > 160 else "normal"
    amplitudes = _minute_amplitudes(calm, fs)
    if amplitudes.size:
        variability = float(np.median(amplitudes))
        summary["variability_bpm"] = round(variability, 1)
        summary["variability_class"] = "reduced" if variability < 5 else "increased" if variability > 25 else "normal"
    else:
        missing["variability_bpm"] = "signal_loss"
    summary["accelerations"] = accelerations
    summary["decelerations"] = decelerations
    return calm, amplitudes, decelerations


def _baseline(calm: np.ndarray, fs: float, has_rate: np.ndarray) -> tuple[int | None, str]:
    """The baseline (bpm, rounded to 5) over the stable 10-min windows of the event-free trace, or
    None and why not: "signal_loss" if no window has a rate for half of it, else "indeterminate"."""
    length = max(1, int(SEGMENT_S * fs))
    finite = np.isfinite(calm)
    means, enough_signal = [], False
    for start in range(0, calm.size - length + 1, max(1, int(60 * fs))):
        enough_signal |= bool(has_rate[start : start + length].mean() >= MIN_VALID_SHARE)
        window = calm[start : start + length][finite[start : start + length]]
        if window.size < MIN_VALID_SHARE * length:
            continue
        low, high = np.percentile(window, STABLE_PERCENTILES)
        if high - low < STABLE_SPREAD_BPM:
            means.append(float(window.mean()))
    if not means:
        return None, "indeterminate" if enough_signal else "signal_loss"
    return int(5 * round(float(np.mean(means)) / 5)), ""


def _minute_amplitudes(calm: np.ndarray, fs: float) -> np.ndarray:
    """Max-min amplitude of every whole minute with a rate for at least half of it (events excluded)."""
    minute = max(1, int(60 * fs))
    amplitudes = []
    for start in range(0, calm.size - minute + 1, minute):
        finite = calm[start : start + minute]
        finite = finite[np.isfinite(finite)]
        if finite.size >= MIN_VALID_SHARE * minute:
            amplitudes.append(float(np.ptp(finite)))
    return np.asarray(amplitudes)


def _sinusoidal(bpm: np.ndarray, fs: float, summary: dict, missing: dict[str, str]) -> None:
    """The FIGO sinusoidal-pattern flag (module doc) into ``summary``, or its reason into ``missing``."""
    if bpm.size / fs <= SINUSOIDAL_MIN_S:
        missing["sinusoidal"] = "insufficient_duration"
        return
    length, step = int(SINUS_WINDOW_S * fs), int(60 * fs)
    starts = range(0, bpm.size - length + 1, step)
    assessable = np.array([np.isfinite(bpm[start : start + length]).mean() >= SINUS_MIN_VALID for start in starts])
    if not any(_run_seconds(first, last, step, length, fs) > SINUSOIDAL_MIN_S for first, last in runs(assessable)):
        missing["sinusoidal"] = "signal_loss"  # no stretch long enough to show (or rule out) the pattern
        return
    sinusoidal = np.array([_sinusoidal_window(bpm[start : start + length], fs) for start in starts])
    long_runs = [(a, b) for a, b in runs(sinusoidal) if _run_seconds(a, b, step, length, fs) > SINUSOIDAL_MIN_S]
    if long_runs and summary["accelerations"] is None:
        missing["sinusoidal"] = missing.get("accelerations", "indeterminate")  # "absent accelerations" unknown
        return
    accelerated = np.zeros(bpm.size, dtype=bool)
    for event in summary["accelerations"] or []:
        accelerated[int(event["start_s"] * fs) : int(event["end_s"] * fs)] = True
    summary["sinusoidal"] = any(not accelerated[a * step : (b - 1) * step + length].any() for a, b in long_runs)


def _run_seconds(first: int, last: int, step: int, length: int, fs: float) -> float:
    """Seconds covered by the windows ``first..last-1`` (``length`` samples, one every ``step``)."""
    return ((last - 1 - first) * step + length) / fs


def _sinusoidal_window(window: np.ndarray, fs: float) -> bool:
    finite = np.isfinite(window)
    if finite.mean() < SINUS_MIN_VALID:
        return False
    t = np.arange(window.size) / fs
    values = np.interp(t, t[finite], window[finite])
    values = values - np.polyval(np.polyfit(t, values, 1), t)  # detrended
    spectrum = np.abs(np.fft.rfft(values * np.hanning(values.size))) ** 2
    cpm = np.fft.rfftfreq(values.size, 1.0 / fs) * 60.0
    band = (cpm >= SINUS_BAND_CPM[0]) & (cpm <= SINUS_BAND_CPM[1])
    reference = (cpm >= SINUS_REFERENCE_CPM[0]) & (cpm <= SINUS_REFERENCE_CPM[1])
    share = spectrum[band].sum() / max(spectrum[reference].sum(), 1e-12)
    # peak-to-trough of the band's oscillation: 2 sqrt(2) x its RMS (a sine's), from the unwindowed band power
    plain = np.abs(np.fft.rfft(values)) ** 2
    rms = np.sqrt(2.0 * plain[band].sum()) / values.size
    amplitude = 2.0 * np.sqrt(2.0) * rms
    return bool(share >= SINUS_MIN_SHARE and SINUS_AMPLITUDE_BPM[0] <= amplitude <= SINUS_AMPLITUDE_BPM[1])


def _dawes_items(
    beat_s: np.ndarray | None,
    trusted: np.ndarray | None,
    duration_s: float,
    decelerations: list[dict] | None,
    summary: dict,
    missing: dict[str, str],
) -> None:
    """Record STV and LTV and the episodes of high and low variation (:mod:`variability`)."""
    items = ("stv_ms", "ltv_ms", "high_variation_episodes", "low_variation_episodes")
    if duration_s < DAWES_MIN_S:
        missing.update(dict.fromkeys(items, "insufficient_duration"))
        return
    if beat_s is None or trusted is None or np.asarray(beat_s).size < 2:
        missing.update(dict.fromkeys(items, "signal_loss"))
        return
    minutes = variability.minutes(variability.epochs(beat_s, trusted, duration_s))
    if np.isfinite(minutes.stv_ms).sum() < MIN_VALID_SHARE * minutes.stv_ms.size:
        missing.update(dict.fromkeys(items, "signal_loss"))
        return
    in_deceleration = np.zeros(minutes.stv_ms.size, dtype=bool)
    for event in decelerations or []:
        first, last = int(event["start_s"] // 60), int(np.ceil(event["end_s"] / 60))
        in_deceleration[first:last] = True
    stv = variability.record_mean(minutes.stv_ms, in_deceleration)
    ltv = variability.record_mean(minutes.ltv_ms, in_deceleration)
    summary["stv_ms"] = None if stv is None else round(stv, 2)
    summary["stv_warning"] = None if stv is None else bool(stv < STV_WARNING_MS)
    summary["ltv_ms"] = None if ltv is None else round(ltv, 1)
    summary["high_variation_episodes"] = variability.variation_episodes(minutes.ltv_ms, high=True)
    summary["low_variation_episodes"] = variability.variation_episodes(minutes.ltv_ms, high=False)
    for item in ("stv_ms", "ltv_ms"):
        if summary[item] is None:
            missing[item] = "signal_loss"
