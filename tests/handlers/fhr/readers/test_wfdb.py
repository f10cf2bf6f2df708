"""The WFDB reader against the reference ``wfdb`` package, on every set-a record and on format 212."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from handlers.fhr.errors import CorruptRecord, NoEcgChannel, RecordError, UnsupportedFormat
from handlers.fhr.readers import read_bytes, read_path
from handlers.fhr.readers.wfdb import decode_format212, parse_header

SET_A_RECORDS = [f"a{number:02d}" for number in range(1, 76)]
_TO_UV = {"uV": 1.0, "mV": 1000.0}


def _reference_microvolts(record_path: Path) -> tuple[np.ndarray, wfdb.Record]:
    reference = wfdb.rdrecord(str(record_path))
    scale = np.array([_TO_UV[unit] for unit in reference.units])
    return (reference.p_signal * scale).astype(np.float32), reference


def _assert_same_signals(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.shape == expected.shape
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-4, equal_nan=True)


@pytest.mark.parametrize("record_name", SET_A_RECORDS)
def test_every_set_a_record_matches_the_wfdb_package(set_a_dir: Path, record_name: str) -> None:
    expected, reference = _reference_microvolts(set_a_dir / record_name)
    record = read_path(set_a_dir / f"{record_name}.hea")
    _assert_same_signals(record.signals, expected)
    assert record.fs == reference.fs
    assert record.channels == tuple(reference.sig_name)
    assert record.format == "wfdb"


def test_invalid_samples_become_nan(set_a_dir: Path) -> None:
    raw = np.fromfile(set_a_dir / "a02.dat", dtype="<i2").reshape(-1, 4)
    record = read_path(set_a_dir / "a02.hea")
    assert (raw == -32768).sum() > 0
    np.testing.assert_array_equal(np.isnan(record.signals), raw == -32768)


def test_read_bytes_with_companion_equals_read_path(set_a_dir: Path) -> None:
    from_bytes = read_bytes((set_a_dir / "a05.hea").read_bytes(), "a05.hea", (set_a_dir / "a05.dat").read_bytes())
    from_path = read_path(set_a_dir / "a05")
    np.testing.assert_array_equal(from_bytes.signals, from_path.signals)


def test_format_212_in_millivolts_matches_the_wfdb_package(tmp_path: Path, set_a_dir: Path) -> None:
    source = wfdb.rdrecord(str(set_a_dir / "a03"), physical=False)
    digital = np.clip(source.d_signal[:20001, :3] // 16, -2047, 2047)  # odd length: a half-filled last triplet
    digital[5, 1] = -2048  # format 212's invalid code
    wfdb.wrsamp(
        "m212",
        fs=500,
        units=["mV", "mV", "uV"],
        sig_name=["ECG1", "ECG2", "ECG3"],
        d_signal=digital.astype(np.int16),
        fmt=["212"] * 3,
        adc_gain=[200.0, 150.0, 2.5],
        baseline=[12, -40, 0],
        write_dir=str(tmp_path),
    )
    expected, _ = _reference_microvolts(tmp_path / "m212")
    record = read_path(tmp_path / "m212.hea")
    _assert_same_signals(record.signals, expected)
    assert np.isnan(record.signals[5, 1])
    assert record.fs == 500


def test_format_212_decoder_handles_negative_and_extreme_values() -> None:
    values = np.array([0, 1, -1, 2047, -2047, -2048, 1000, -1000], dtype=np.int16)
    unsigned = values.astype(np.int32) & 0xFFF
    packed = np.empty((4, 3), dtype=np.uint8)
    packed[:, 0] = unsigned[0::2] & 0xFF
    packed[:, 1] = ((unsigned[0::2] >> 8) & 0x0F) | (((unsigned[1::2] >> 8) & 0x0F) << 4)
    packed[:, 2] = unsigned[1::2] & 0xFF
    np.testing.assert_array_equal(decode_format212(packed.tobytes(), 2).ravel(), values)


def test_header_defaults_gain_baseline_and_units() -> None:
    header = parse_header("r 1 360 10\nr.dat 16 0 12 7 0 0 0 lead II\n", "r.hea")
    (spec,) = header.signals
    assert (spec.gain, spec.baseline, spec.units, spec.description) == (200.0, 7, "mV", "lead II")


def test_truncated_signal_file_is_a_corrupt_record(set_a_dir: Path) -> None:
    header = (set_a_dir / "a01.hea").read_bytes()
    with pytest.raises(CorruptRecord, match="holds"):
        read_bytes(header, "a01.hea", (set_a_dir / "a01.dat").read_bytes()[:1000])


def test_unsupported_wfdb_format_is_named() -> None:
    header = b"r 1 1000 20000\nr.dat 80 200/mV 8 0 0 0 0 ECG\n"
    with pytest.raises(UnsupportedFormat, match="format 80"):
        read_bytes(header, "r.hea", bytes(20000))


def test_header_without_dat_is_refused() -> None:
    with pytest.raises(UnsupportedFormat, match=r"\.dat"):
        read_bytes(b"r 1 1000 20000\nr.dat 16 200/mV 16 0 0 0 0 ECG\n", "r.hea")


def test_no_voltage_signal_means_no_ecg_channel() -> None:
    header = b"r 1 1000 20000\nr.dat 16 100/degC 16 0 0 0 0 Temp\n"
    with pytest.raises(NoEcgChannel):
        read_bytes(header, "r.hea", np.zeros(20000, dtype="<i2").tobytes())


def test_read_path_accepts_the_record_name_or_its_dat(set_a_dir: Path) -> None:
    by_header = read_path(set_a_dir / "a04.hea").signals
    np.testing.assert_array_equal(read_path(set_a_dir / "a04").signals, by_header)
    np.testing.assert_array_equal(read_path(set_a_dir / "a04.dat").signals, by_header)


@pytest.mark.parametrize(
    "header",
    [
        "r \u00b2 1000 20000\nr.dat 16 200/mV 16 0 0 0 0 ECG\n",  # '²' passes str.isdigit, not int()
        "r 1 1000 \u0662\u0660\nr.dat 16 200/mV 16 0 0 0 0 ECG\n",  # Arabic-Indic digits as the length
        "r 1 1000 20000\nr.dat 16 e/mV 16 0 0 0 0 ECG\n",  # matches the gain pattern, not a number
        "r 1 1000 20000\nr.dat 16 --(0)/mV 16 0 0 0 0 ECG\n",
        "r 1 1000 20000\nr.dat 16 1e400/mV 16 0 0 0 0 ECG\n",  # an infinite gain
        "r 1 1000 20000\nr.dat 16 200/mV 16 \u00b3 0 0 0 ECG\n",  # adc zero '³'
    ],
)
def test_malformed_numbers_in_a_header_are_record_errors_not_crashes(header: str) -> None:
    """Each either reads (an optional field ignored) or is a RecordError: never a ValueError (an API 500)."""
    try:
        read_bytes(
            header.encode(), "r.hea", np.random.default_rng(0).integers(-900, 900, 20000).astype("<i2").tobytes()
        )
    except RecordError as error:
        assert error.code in ("corrupt_record", "unusable_signal")
