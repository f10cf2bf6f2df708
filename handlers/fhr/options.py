"""Estimator options: defaults, and validation that turns bad values into :class:`InvalidOptions`.

Options arrive from API callers as JSON, so every key and type is checked and unknown keys are
refused (a typo must not silently fall back to a default).
"""

from __future__ import annotations

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


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidOptions(f"option {name!r} must be a number, got {type(value).__name__}")
    if not low <= float(value) <= high:
        raise InvalidOptions(f"option {name!r} must be between {low} and {high}, got {value}")
    return float(value)


def parse_options(raw: dict | None, n_channels: int) -> Options:
    """Validate a caller's options dict against the record it will be applied to."""
    if raw is None:
        return Options()
    if not isinstance(raw, dict):
        raise InvalidOptions(f"options must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise InvalidOptions(f"unknown option(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(_KNOWN))}")
    kwargs: dict[str, object] = {}
    if raw.get("channels") is not None:
        channels = raw["channels"]
        if not isinstance(channels, list | tuple) or not channels:
            raise InvalidOptions("option 'channels' must be a non-empty list of 0-based channel indices")
        if any(isinstance(c, bool) or not isinstance(c, int) for c in channels):
            raise InvalidOptions("option 'channels' must hold integers")
        if len(set(channels)) != len(channels):
            raise InvalidOptions("option 'channels' lists a channel twice")
        bad = [c for c in channels if not 0 <= c < n_channels]
        if bad:
            raise InvalidOptions(f"option 'channels': {bad} out of range for a record with {n_channels} channel(s)")
        kwargs["channels"] = tuple(channels)
    if "fhr_range" in raw:
        value = raw["fhr_range"]
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise InvalidOptions("option 'fhr_range' must be [low, high] in bpm")
        low, high = (_number("fhr_range", v, 30.0, 300.0) for v in value)
        if high - low < 20.0:
            raise InvalidOptions(f"option 'fhr_range' must span at least 20 bpm with low < high, got {value}")
        kwargs["fhr_range"] = (low, high)
    if "threads" in raw:
        threads = raw["threads"]
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 64:
            raise InvalidOptions(f"option 'threads' must be an integer in 1..64, got {threads!r}")
        kwargs["threads"] = threads
    if "window_s" in raw:
        kwargs["window_s"] = _number("window_s", raw["window_s"], 2.0, 12.0)
    if "hop_s" in raw:
        kwargs["hop_s"] = _number("hop_s", raw["hop_s"], 0.25, 2.0)
    if "refine" in raw:
        if not isinstance(raw["refine"], bool):
            raise InvalidOptions("option 'refine' must be true or false")
        kwargs["refine"] = raw["refine"]
    if "tuning" in raw:
        tuning = raw["tuning"]
        if not isinstance(tuning, dict):
            raise InvalidOptions("option 'tuning' must be an object of numbers")
        kwargs["extra"] = {str(k): _number(f"tuning.{k}", v, -1e6, 1e6) for k, v in tuning.items()}
    return Options(**kwargs)  # type: ignore[arg-type]
