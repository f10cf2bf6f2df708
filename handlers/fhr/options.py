"""Estimator options: defaults, and validation that turns bad values into :class:`InvalidOptions`.

Options arrive from API callers as JSON, so every key and type is checked and unknown keys are
refused (a typo must not silently fall back to a default). The numeric options are checked against
:data:`OPTION_LIMITS` and the research knobs of ``tuning`` one by one against :data:`TUNING_LIMITS`
(name, number type, range), then against each other and the top-level options
(:func:`_check_tuning_together`): whatever passes here gives the estimator a meaningful configuration,
so no option can crash it or produce a plausible-looking nonsense trace that would then be cached.

The same tables give :func:`options_schema`, the JSON Schema the API's OpenAPI document publishes, so
the ranges a client reads are the ranges enforced here (the rules between values are in its description).
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


DEFAULT_FHR_RANGE = Options().fhr_range


@dataclass(frozen=True)
class Knob:
    """Where one research knob means something: an inclusive range, and whether it counts things."""

    low: float
    high: float
    integer: bool = False
    unit: str = ""
    doc: str = ""

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        return f"{kind} from {self.low:g} to {self.high:g}{' ' + self.unit if self.unit else ''}"

    def schema(self) -> dict[str, object]:
        """The knob as JSON Schema: its type and inclusive range, its meaning and unit as the description."""
        low, high = (int(self.low), int(self.high)) if self.integer else (self.low, self.high)
        unit = f" ({self.unit})" if self.unit else ""
        return {
            "type": "integer" if self.integer else "number",
            "minimum": low,
            "maximum": high,
            "description": self.doc + unit,
        }


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
    "band_low": Knob(
        1.0, 60.0, unit="Hz", doc="fetal QRS band-pass low edge (the fetal QRS holds its energy in 10-50 Hz)"
    ),
    "band_high": Knob(10.0, MAX_FETAL_BAND_HZ, unit="Hz", doc="fetal QRS band-pass high edge"),
    "maternal_tracked": Knob(0, 1, integer=True, doc="switch: the maternal rate tracked spectrally (0 = off, 1 = on)"),
    "maternal_comb": Knob(0, 1, integer=True, doc="switch: the maternal comb (0 = off, 1 = on)"),
    "ica": Knob(0, 2, integer=True, doc="FastICA virtual channels: 0 = none, 1 = leads and components, 2 = components"),
    "working_fs": Knob(MIN_WORKING_FS_HZ, MAX_WORKING_FS_HZ, unit="Hz", doc="rate the conditioner decimates to"),
    "envelope_fs": Knob(10.0, 125.0, unit="Hz", doc="the QRS-energy envelope's rate"),
    "peakiness_floor": Knob(
        1.0, 20.0, doc="channel weight = (peakiness - floor)^2; peakiness (peak / mean of a spectrum) is >= 1"
    ),
    "maternal_components": Knob(1, 8, integer=True, doc="principal components of the maternal beat model subtracted"),
    "maternal_depth": Knob(0.0, 0.99, doc="maternal-rate penalty: multiplicative dip in (1 - depth, 1]"),
    "maternal_width_bpm": Knob(0.5, 30.0, unit="bpm", doc="maternal-rate penalty: width of its Gaussian"),
    "maternal_multiples": Knob(0, 2, integer=True, doc="maternal-rate penalty at 1 or 2 multiples of it (0 = none)"),
    "whiten_hz": Knob(0.0, 5.0, unit="Hz", doc="spectral whitening floor half-width (0 = off)"),
    "half_weight": Knob(0.0, 1.0, doc="weight of the subtracted half-harmonics"),
    "penalty_per_bpm": Knob(0.0, 10.0, doc="Viterbi continuity cost per bpm of change (0 = frame-wise maximum)"),
    "quality_floor": Knob(0.0, 1.0, doc="frames whose quality (in [0, 1]) is below this report no rate"),
    "refine_tolerance_bpm": Knob(
        1.0, 60.0, unit="bpm", doc="beat-to-beat rates further than this from the spectral track are not trusted"
    ),
    "beat_tightness": Knob(
        0.0, 200.0, doc="cost of RR intervals that depart from the tracked rate in the beat picker (0 = ignored)"
    ),
    # each pass re-runs the matched filter over the excerpt with the templates of the last (beats.pick_beats)
    "matched_passes": Knob(
        0, 4, integer=True, doc="matched-filter beat passes over the template excerpt (0 = the energy chain alone)"
    ),
    "maternal_align": Knob(
        0, 1, integer=True, doc="switch: maternal R waves re-aligned to their template before cancellation"
    ),
}
# The numeric top-level options.
OPTION_LIMITS: dict[str, Knob] = {
    "threads": Knob(1, 64, integer=True, doc="FFTW threads"),
    "window_s": Knob(2.0, 12.0, unit="s", doc="spectral window length"),
    "hop_s": Knob(0.25, 2.0, unit="s", doc="spectral frame step (default: 0.25 s up to 5 min of record, 2 s beyond)"),
}
FHR_RANGE_LIMITS = Knob(30.0, 300.0, unit="bpm", doc="one end of the range the fetal tracker may report")
MIN_FHR_SPAN_BPM = 20.0
_KNOWN = {"channels", "fhr_range", *OPTION_LIMITS, "refine", "tuning"}


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
        low, high = (_number("fhr_range", v, FHR_RANGE_LIMITS.low, FHR_RANGE_LIMITS.high) for v in value)
        if high - low < MIN_FHR_SPAN_BPM:
            raise InvalidOptions(
                f"option 'fhr_range' must span at least {MIN_FHR_SPAN_BPM:g} bpm with low < high, got {value}"
            )
        kwargs["fhr_range"] = (low, high)
    for name, knob in OPTION_LIMITS.items():
        if name in raw:
            kwargs[name] = _knob(name, raw[name], knob)
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
    extra = {name: float(_knob(f"tuning.{name}", value, TUNING_LIMITS[name])) for name, value in tuning.items()}
    _check_tuning_together(extra, fhr_range)
    return extra


def _knob(name: str, value: object, knob: Knob) -> float | int:
    if knob.integer:
        return _integer(name, value, int(knob.low), int(knob.high))
    return _number(name, value, knob.low, knob.high)


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


def options_schema() -> dict[str, object]:
    """The options as JSON Schema, from the tables :func:`parse_options` enforces.

    What a schema cannot say is in the descriptions: channel indices must exist in the record,
    ``fhr_range`` must span ``MIN_FHR_SPAN_BPM``, and the tuning knobs' rules between each other.
    """
    fhr_end = FHR_RANGE_LIMITS.schema()
    return {
        "type": "object",
        "description": "estimator options; unknown keys are refused (400 invalid_options)",
        "additionalProperties": False,
        "properties": {
            "channels": {
                "anyOf": [
                    {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1, "uniqueItems": True},
                    {"type": "null"},
                ],
                "description": "0-based channel subset, each index below the record's channel count; null = all",
            },
            "fhr_range": {
                "type": "array",
                "prefixItems": [fhr_end, fhr_end],
                "items": False,
                "minItems": 2,
                "description": f"[low, high] bpm the fetal tracker may report (default {list(DEFAULT_FHR_RANGE)}); "
                f"high must exceed low by at least {MIN_FHR_SPAN_BPM:g} bpm",
            },
            **{name: knob.schema() for name, knob in OPTION_LIMITS.items()},
            "refine": {"type": "boolean", "description": "refine the tracked spectral rate with fetal beat picking"},
            "tuning": {
                "type": "object",
                "additionalProperties": False,
                "properties": {name: knob.schema() for name, knob in TUNING_LIMITS.items()},
                "description": "research knobs; band_high must exceed band_low by at least "
                f"{MIN_FETAL_BAND_WIDTH_HZ:g} Hz, and envelope_fs must be at least {2 * HARMONICS_READ} x the "
                "fastest fetal rate searched (fhr_range high, in Hz)",
            },
        },
    }
