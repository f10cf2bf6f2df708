"""Builders of small text records with known values, written independently of the readers.

Shared by the readers' tests and the S3 streaming tests (both feed PhysioNet-layout text through
code under test), so it lives in their common parent directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

TextBuilder = Callable[..., tuple[bytes, np.ndarray]]


def _elapsed(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    minutes, millis = divmod(millis, 60_000)
    hours, minutes = divmod(minutes, 60)
    clock = f"{minutes}:{millis // 1000:02d}.{millis % 1000:03d}"
    return f"{hours}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}" if hours else clock


def ecg_like(n: int, channels: int, seed: int, amplitude_mv: float = 0.4) -> np.ndarray:
    """Millivolt-scale signals rounded to 3 decimals: a slow wave plus noise, both signs."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    wave = amplitude_mv * np.sin(2 * np.pi * t / 700.0 + np.arange(channels))
    return np.round(wave + rng.normal(0, 0.05, (n, channels)), 3)


@pytest.fixture
def physionet_csv() -> TextBuilder:
    """PhysioNet's text export: quoted names, quoted units, quoted elapsed time, '-' for invalid."""

    def build(
        seconds: float = 12.0,
        fs: int = 500,
        channels: int = 4,
        seed: int = 1,
        invalid: tuple[tuple[int, int], ...] = (),
        unit: str = "mV",
        newline: str = "\n",
        values: np.ndarray | None = None,
    ) -> tuple[bytes, np.ndarray]:
        signals = ecg_like(int(seconds * fs), channels, seed) if values is None else values
        names = ",".join(f"'AECG{i + 1}'" for i in range(signals.shape[1]))
        units = ",".join(f"'{unit}'" for _ in range(signals.shape[1]))
        lines = [f"'Elapsed time',{names}", f"'hh:mm:ss.mmm',{units}"]
        bad = set(invalid)
        for row in range(signals.shape[0]):
            cells = ["-" if (row, c) in bad else f"{signals[row, c]:.3f}" for c in range(signals.shape[1])]
            lines.append(f"'{_elapsed(row / fs)}'," + ",".join(cells))
        expected = signals.astype(np.float64).copy()
        for row, column in bad:
            expected[row, column] = np.nan
        return (newline.join(lines) + newline).encode(), expected

    return build


WfdbFiles = dict[str, bytes]


def _split_record(set_a_dir: Path, record: str, stem: str, groups: tuple[tuple[int, ...], ...]) -> WfdbFiles:
    """A set-a record rewritten as ``stem.hea`` plus one format-16 signal file per channel group
    (``stem_1.dat``, ``stem_2.dat``, ...): the same samples, spread over several files as WFDB allows."""
    header = (set_a_dir / f"{record}.hea").read_text().splitlines()
    n_signals = int(header[0].split()[1])
    samples = np.frombuffer((set_a_dir / f"{record}.dat").read_bytes(), dtype="<i2").reshape(-1, n_signals)
    files: WfdbFiles = {}
    lines = [stem + " " + header[0].split(maxsplit=1)[1]]
    for number, channels in enumerate(groups, start=1):
        name = f"{stem}_{number}.dat"
        files[name] = np.ascontiguousarray(samples[:, list(channels)]).astype("<i2").tobytes()
        lines += [name + " " + header[1 + channel].split(maxsplit=1)[1] for channel in channels]
    files[f"{stem}.hea"] = ("\n".join(lines) + "\n").encode()
    return files


@pytest.fixture
def split_wfdb(set_a_dir: Path) -> Callable[..., WfdbFiles]:
    def build(record: str, stem: str, groups: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3))) -> WfdbFiles:
        return _split_record(set_a_dir, record, stem, groups)

    return build
