"""What a synthetic record really contains, in a JSON-friendly shape.

The rate traces follow the estimator's convention: ``bpm[k]`` is the rate at ``t0 + k / fs`` seconds
from the record's start, ``fs`` = 4 Hz, ``t0`` = 0, covering ``[0, duration)``. Beat times are sample
indices into the record (the R peak of each beat).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from handlers.fhr.synth.noise import Artefact
from handlers.fhr.synth.rhythm import RATE_FS, Crossing, Event

TRUTH_VERSION = 1


@dataclass(frozen=True)
class LossSegment:
    """Samples in ``[start_s, end_s)`` are NaN on every channel (an unplugged cable)."""

    start_s: float
    end_s: float


@dataclass
class Truth:
    """The known answer for one synthetic record (see the module docstring for the conventions)."""

    seed: int
    fs: float
    n_samples: int
    channels: tuple[str, ...]
    fetal_beats: np.ndarray
    maternal_beats: np.ndarray
    fhr_bpm: np.ndarray
    mhr_bpm: np.ndarray
    fhr_baseline_bpm: float
    mhr_baseline_bpm: float
    snr_db: float | None
    fetal_ratio: float
    events: tuple[Event, ...] = ()
    crossings: tuple[Crossing, ...] = ()
    artefacts: tuple[Artefact, ...] = ()
    signal_loss: tuple[LossSegment, ...] = ()
    powers_uv2: dict[str, float] = field(default_factory=dict)
    fetal_leads: np.ndarray | None = None
    maternal_leads: np.ndarray | None = None
    rate_fs: float = RATE_FS
    t0: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    @property
    def rate_times(self) -> np.ndarray:
        """Seconds from the record's start of each ``fhr_bpm`` / ``mhr_bpm`` sample."""
        return self.t0 + np.arange(self.fhr_bpm.size) / self.rate_fs

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; rates rounded to 0.001 bpm, powers to 6 significant digits."""
        return {
            "version": TRUTH_VERSION,
            "generator": "handlers.fhr.synth",
            "seed": self.seed,
            "fs": self.fs,
            "n_samples": self.n_samples,
            "duration_s": self.duration_s,
            "channels": list(self.channels),
            "snr_db": self.snr_db,
            "snr_definition": "10*log10(mean fetal ECG power / mean total noise power), over all channels and samples",
            "fetal_ratio": self.fetal_ratio,
            "powers_uv2": {k: float(f"{v:.6g}") for k, v in self.powers_uv2.items()},
            "fetal_beats": self.fetal_beats.astype(int).tolist(),
            "maternal_beats": self.maternal_beats.astype(int).tolist(),
            "fhr": _trace(self.fhr_bpm, self.rate_fs, self.t0),
            "mhr": _trace(self.mhr_bpm, self.rate_fs, self.t0),
            "fhr_baseline_bpm": round(self.fhr_baseline_bpm, 3),
            "mhr_baseline_bpm": round(self.mhr_baseline_bpm, 3),
            "events": [asdict(e) for e in self.events],
            "crossings": [asdict(c) for c in self.crossings],
            "artefacts": [asdict(a) for a in self.artefacts],
            "signal_loss": [asdict(s) for s in self.signal_loss],
            "geometry": {
                "fetal_leads": _matrix(self.fetal_leads),
                "maternal_leads": _matrix(self.maternal_leads),
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Truth:
        """Inverse of :meth:`to_dict` (up to its rounding), for evaluation tools reading a truth file."""
        geometry = data.get("geometry", {})
        return cls(
            seed=int(data["seed"]),
            fs=float(data["fs"]),
            n_samples=int(data["n_samples"]),
            channels=tuple(data["channels"]),
            fetal_beats=np.asarray(data["fetal_beats"], dtype=np.int64),
            maternal_beats=np.asarray(data["maternal_beats"], dtype=np.int64),
            fhr_bpm=np.asarray(data["fhr"]["bpm"], dtype=np.float64),
            mhr_bpm=np.asarray(data["mhr"]["bpm"], dtype=np.float64),
            fhr_baseline_bpm=float(data["fhr_baseline_bpm"]),
            mhr_baseline_bpm=float(data["mhr_baseline_bpm"]),
            snr_db=None if data["snr_db"] is None else float(data["snr_db"]),
            fetal_ratio=float(data["fetal_ratio"]),
            events=tuple(Event(**e) for e in data["events"]),
            crossings=tuple(Crossing(**c) for c in data["crossings"]),
            artefacts=tuple(Artefact(**a) for a in data["artefacts"]),
            signal_loss=tuple(LossSegment(**s) for s in data["signal_loss"]),
            powers_uv2=dict(data["powers_uv2"]),
            fetal_leads=_array_or_none(geometry.get("fetal_leads")),
            maternal_leads=_array_or_none(geometry.get("maternal_leads")),
            rate_fs=float(data["fhr"]["fs"]),
            t0=float(data["fhr"]["t0"]),
        )


def _trace(bpm: np.ndarray, fs: float, t0: float) -> dict[str, Any]:
    return {"fs": fs, "t0": t0, "bpm": np.round(bpm.astype(np.float64), 3).tolist()}


def _matrix(values: np.ndarray | None) -> list[list[float]] | None:
    return None if values is None else np.round(values.astype(np.float64), 6).tolist()


def _array_or_none(values: list[list[float]] | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)
