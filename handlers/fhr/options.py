"""Estimator options: defaults, and validation that turns bad values into :class:`InvalidOptions`.

Options arrive from API callers as JSON, so every key and type is checked and unknown keys are
refused (a typo must not silently fall back to a default). The research knobs of ``tuning`` are
checked one by one against :data:`TUNING_LIMITS` (name, number type, range) and then against each
other and the top-level options (:func:`_check_tuning_together`): whatever passes here gives the
estimator a meaningful configuration, so no option can crash it or produce a plausible-looking
nonsense trace that would then be cached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from handlers.fhr.errors import InvalidOptions


@dataclass(frozen=True)
class Options:
    channels: tuple[int, ...] | None = None  # 0-based channel subset; None = all
    fhr_range: tuple[float, float] = (70.0, 220.0)  # bpm the fetal tracker may report
    threads: int = 2  # FFTW threads
    window_s: float = 4.0  # spectral window length
    hop_s: float | None = None  # spectral frame step; None = 0.25 s up to 5 min, 2 s beyond
    refine: bool = True  # refine the tracked spectral rate with fetal beat picking
    extra: dict[str, float] = field(default_factory=dict)  # research knobs (documented in estimator.TUNING)


_KNOWN = {"channels", "fhr_range", "threads", "window_s", "hop_s", "refine", "tuning"}
DEFAULT_FHR_RANGE = Options().fhr_range


@dataclass(frozen=True)
class Knob:
    """Where one research knob means something: an inclusive range, and whether it counts things."""

    low: float
    high: float
    integer: bool = False
    unit: str = ""

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        return f"{kind} from {self.low:g} to {self.high:g}{' ' + self.unit if self.unit else ''}"


# The working rate must resolve the fetal QRS (10-20 ms wide): the readers refuse records below
# this rate for the same reason (readers.validate.MIN_FS_HZ; a test keeps the two equal). Above
# 1 kHz nothing of the ECG is left to gain (the conditioner keeps up to ~100 Hz) and every later
# stage costs proportionally more.
MIN_WORKING_FS_HZ = 250.0
MAX_WORKING_FS_HZ = 1000.0
# The conditioner low-passes every channel from 90 Hz (dsp.condition's 100 Hz edge, 10 Hz ramps), so
# a fetal band reaching above that would only filter what is already gone; its upper ramp
# (FETAL_BAND_RAMP x band_high, fetal.fetal_band) then still ends below the lowest working rate's
# Nyquist frequency (1.3 x 90 = 117 < 125 Hz).
MAX_FETAL_BAND_HZ = 90.0
FETAL_BAND_RAMP = 1.3
# A band-pass narrower than this rings for longer than a fetal QRS complex lasts.
MIN_FETAL_BAND_WIDTH_HZ = 5.0
# The harmonic sum reads the envelope spectrum up to the 3rd harmonic of the fastest rate searched
# (fetal.HARMONIC_WEIGHTS; a test keeps the two equal), which must lie below the envelope's Nyquist.
HARMONICS_READ = 3

TUNING_LIMITS: dict[str, Knob] = {
    # fetal QRS band-pass edges (fetal.fetal_band); the fetal QRS holds its energy in 10-50 Hz
    "band_low": Knob(1.0, 60.0, unit="Hz"),
    "band_high": Knob(10.0, MAX_FETAL_BAND_HZ, unit="Hz"),
    # switches: 0 = off, 1 = on (the maternal rate tracked spectrally; the maternal comb)
    "maternal_tracked": Knob(0, 1, integer=True),
    "maternal_comb": Knob(0, 1, integer=True),
    # FastICA virtual channels: 0 = none, 1 = leads and components, 2 = components only
    "ica": Knob(0, 2, integer=True),
    # rate the conditioner decimates to (dsp.condition) and the QRS-energy envelope's rate
    "working_fs": Knob(MIN_WORKING_FS_HZ, MAX_WORKING_FS_HZ, unit="Hz"),
    "envelope_fs": Knob(10.0, 125.0, unit="Hz"),
    # channel weight = (peakiness - floor)^2; peakiness (peak / mean of a spectrum) is >= 1 by construction
    "peakiness_floor": Knob(1.0, 20.0),
    # principal components of the maternal beat model subtracted per channel (maternal.cancel)
    "maternal_components": Knob(1, 8, integer=True),
    # maternal-rate penalty: multiplicative dip in (1 - depth, 1], Gaussian of this width, at 1 or 2 multiples
    "maternal_depth": Knob(0.0, 0.99),
    "maternal_width_bpm": Knob(0.5, 30.0, unit="bpm"),
    "maternal_multiples": Knob(0, 2, integer=True),
    # spectral whitening floor half-width (0 = off) and the weight of the subtracted half-harmonics
    "whiten_hz": Knob(0.0, 5.0, unit="Hz"),
    "half_weight": Knob(0.0, 1.0),
    # Viterbi continuity cost per bpm of change (0 = frame-wise maximum)
    "penalty_per_bpm": Knob(0.0, 10.0),
    # frames whose quality (in [0, 1]) is below this report no rate
    "quality_floor": Knob(0.0, 1.0),
    # beat-to-beat rates further than this from the spectral track are not trusted
    "refine_tolerance_bpm": Knob(1.0, 60.0, unit="bpm"),
    # cost of RR intervals that depart from the tracked rate in the beat picker (0 = spacing ignored)
    "beat_tightness": Knob(0.0, 200.0),
    # matched-filter beat passes over the template excerpt (beats.pick_beats; 0 = the energy chain alone); each
    # pass re-runs the matched filter over the excerpt with the templates of the last (default 2)
    "matched_passes": Knob(0, 4, integer=True),
    # switch: maternal R waves re-aligned to their template before cancellation (maternal.align_to_template)
    "maternal_align": Knob(0, 1, integer=True),
}


def _finite(name: str, value: object) -> float:
    """``value`` as a finite float: a JSON number (not a boolean), not NaN, not infinite, not huge."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidOptions(f"option {name!r} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidOptions(f"option {name!r} must be a finite number, got {_shown(value)}")
    return number


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(name: str, value: object, low: float, high: float) -> float:
    number = _finite(name, value)
    if not low <= number <= high:
        raise InvalidOptions(f"option {name!r} must be between {low:g} and {high:g}, got {_shown(value)}")
    return number


def _integer(name: str, value: object, low: int, high: int) -> int:
    number = _finite(name, value)
    if not number.is_integer() or not low <= number <= high:
        raise InvalidOptions(f"option {name!r} must be an integer from {low} to {high}, got {_shown(value)}")
    return int(number)


def parse_options(raw: dict | None, n_channels: int) -> Options:
    """Validate a caller's options dict against the record it will be applied to."""
    if raw is None:
        return Options()
    if not isinstance(raw, dict):
        raise InvalidOptions(f"options must be an object, got {type(raw).__name__}")
    unknown = sorted(map(str, set(raw) - _KNOWN))
    if unknown:
        raise InvalidOptions(f"unknown option(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(_KNOWN))}")
    kwargs: dict[str, object] = {}
    if raw.get("channels") is not None:
        kwargs["channels"] = _channels(raw["channels"], n_channels)
    if "fhr_range" in raw:
        value = raw["fhr_range"]
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise InvalidOptions("option 'fhr_range' must be [low, high] in bpm")
        low, high = (_number("fhr_range", v, 30.0, 300.0) for v in value)
        if high - low < 20.0:
            raise InvalidOptions(f"option 'fhr_range' must span at least 20 bpm with low < high, got {value}")
        kwargs["fhr_range"] = (low, high)
    if "threads" in raw:
        kwargs["threads"] = _integer("threads", raw["threads"], 1, 64)
    if "window_s" in raw:
        kwargs["window_s"] = _number("window_s", raw["window_s"], 2.0, 12.0)
    if "hop_s" in raw:
        kwargs["hop_s"] = _number("hop_s", raw["hop_s"], 0.25, 2.0)
    if "refine" in raw:
        if not isinstance(raw["refine"], bool):
            raise InvalidOptions("option 'refine' must be true or false")
        kwargs["refine"] = raw["refine"]
    if "tuning" in raw:
        fhr_range = kwargs.get("fhr_range", DEFAULT_FHR_RANGE)
        kwargs["extra"] = parse_tuning(raw["tuning"], fhr_range)  # type: ignore[arg-type]
    return Options(**kwargs)  # type: ignore[arg-type]


def _channels(channels: object, n_channels: int) -> tuple[int, ...]:
    if not isinstance(channels, list | tuple) or not channels:
        raise InvalidOptions("option 'channels' must be a non-empty list of 0-based channel indices")
    if any(isinstance(c, bool) or not isinstance(c, int) for c in channels):
        raise InvalidOptions("option 'channels' must hold integers")
    if len(set(channels)) != len(channels):
        raise InvalidOptions("option 'channels' lists a channel twice")
    bad = [c for c in channels if not 0 <= c < n_channels]
    if bad:
        shown = _shown(bad)
        raise InvalidOptions(f"option 'channels': {shown} out of range for a record with {n_channels} channel(s)")
    return tuple(channels)


def parse_tuning(tuning: object, fhr_range: tuple[float, float] = DEFAULT_FHR_RANGE) -> dict[str, float]:
    """The research knobs a caller overrides, each checked by name, type and range, then together."""
    if not isinstance(tuning, dict):
        raise InvalidOptions("option 'tuning' must be an object of numbers")
    unknown = sorted(str(name) for name in tuning if name not in TUNING_LIMITS)
    if unknown:
        raise InvalidOptions(
            f"unknown tuning key(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(TUNING_LIMITS))}"
        )
    extra: dict[str, float] = {}
    for name, value in tuning.items():
        knob = TUNING_LIMITS[name]
        if knob.integer:
            extra[name] = float(_integer(f"tuning.{name}", value, int(knob.low), int(knob.high)))
        else:
            extra[name] = _number(f"tuning.{name}", value, knob.low, knob.high)
    _check_tuning_together(extra, fhr_range)
    return extra


# Defaults the cross-field rules compare against when a caller overrides only one side of a pair
# (estimator.TUNING holds the same values; a test keeps them equal).
_DEFAULTS_FOR_RULES = {"band_low": 12.0, "band_high": 45.0, "envelope_fs": 31.25}


def _check_tuning_together(extra: dict[str, float], fhr_range: tuple[float, float]) -> None:
    """Rules between knobs (and the top-level ``fhr_range``) that single ranges cannot express."""
    knobs = {**_DEFAULTS_FOR_RULES, **extra}
    low, high = knobs["band_low"], knobs["band_high"]
    if high - low < MIN_FETAL_BAND_WIDTH_HZ:
        raise InvalidOptions(
            f"option 'tuning.band_high' ({high:g} Hz) must exceed 'tuning.band_low' ({low:g} Hz) by at least "
            f"{MIN_FETAL_BAND_WIDTH_HZ:g} Hz"
        )
    needed = 2.0 * HARMONICS_READ * fhr_range[1] / 60.0
    if knobs["envelope_fs"] < needed:
        raise InvalidOptions(
            f"option 'tuning.envelope_fs' must be at least {needed:g} Hz for fhr_range up to {fhr_range[1]:g} bpm "
            f"(the harmonic sum reads the {HARMONICS_READ}rd harmonic), got {knobs['envelope_fs']:g}"
        )
