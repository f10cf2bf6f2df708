"""The in-memory ECG record every reader produces and the estimator consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Record:
    """A multi-channel ECG recording in physical units.

    ``signals`` is float32, shape ``(n_samples, n_channels)``, in microvolts; NaN marks an invalid
    sample (WFDB's -32768, a PhysioNet CSV's ``-``), so no reader silently invents data.
    """

    signals: np.ndarray
    fs: float
    channels: tuple[str, ...]
    source: str
    format: str
    units: str = "uV"
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.signals.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.signals.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs
