"""EDF/EDF+ against the independent ``edfio`` package (a test-only dependency)."""

from __future__ import annotations

from pathlib import Path

import edfio
import numpy as np
import pytest

from handlers.fhr.errors import CorruptRecord, NoEcgChannel
from handlers.fhr.readers import read_bytes, read_path


def _write_edf(path: Path, *, annotations: bool, seconds: int = 12) -> edfio.Edf:
    rng = np.random.default_rng(11)
    fs = 500
    n = seconds * fs
    signals = [
        edfio.EdfSignal(rng.normal(0, 150, n), fs, label="Abd1", physical_dimension="uV", physical_range=(-2000, 2000)),
        edfio.EdfSignal(rng.normal(0, 0.2, n), fs, label="Abd2", physical_dimension="mV", physical_range=(-3.2, 4.1)),
        edfio.EdfSignal(rng.normal(0, 1, seconds * 25), 25, label="Resp", physical_dimension="uV"),
        edfio.EdfSignal(rng.normal(37, 0.1, seconds), 1, label="Temp", physical_dimension="degC"),
    ]
    notes = [edfio.EdfAnnotation(1.0, None, "start")] if annotations else None
    edf = edfio.Edf(signals, annotations=notes, data_record_duration=1.0)
    edf.write(path)
    return edfio.read_edf(path)


@pytest.mark.parametrize("annotations", [False, True])
def test_edf_matches_edfio(tmp_path: Path, annotations: bool) -> None:
    path = tmp_path / "rec.edf"
    reference = _write_edf(path, annotations=annotations)
    record = read_path(path)
    assert record.format == "edf"
    assert record.fs == 500.0
    assert record.channels == ("Abd1", "Abd2")  # the 25 Hz, degC and annotation signals are skipped
    assert record.meta["edf_plus"] is annotations
    expected = np.column_stack([reference.signals[0].data, reference.signals[1].data * 1000.0])
    np.testing.assert_allclose(record.signals, expected, rtol=1e-5, atol=1e-2)


def test_edf_detected_by_content_under_any_name(tmp_path: Path) -> None:
    path = tmp_path / "rec.edf"
    _write_edf(path, annotations=False)
    assert read_bytes(path.read_bytes(), "upload.bin").format == "edf"


def test_truncated_edf(tmp_path: Path) -> None:
    path = tmp_path / "rec.edf"
    _write_edf(path, annotations=False)
    with pytest.raises(CorruptRecord, match="data records"):
        read_bytes(path.read_bytes()[:-5000], "rec.edf")


def test_edf_header_cut_short() -> None:
    with pytest.raises(CorruptRecord, match="256-byte"):
        read_bytes(b"0       " + b" " * 100, "rec.edf")


def test_edf_without_voltage_signal(tmp_path: Path) -> None:
    path = tmp_path / "temp.edf"
    edfio.Edf([edfio.EdfSignal(np.full(20, 37.0), 1, label="Temp", physical_dimension="degC")]).write(path)
    with pytest.raises(NoEcgChannel):
        read_path(path)
