"""Every kind of bad input gets its own typed error with a message a person can act on."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr.errors import (
    CorruptRecord,
    EmptyRecord,
    NoEcgChannel,
    RecordError,
    RecordTooLarge,
    RecordTooShort,
    SamplingRateTooLow,
    UnsupportedFormat,
    UnusableSignal,
)
from handlers.fhr.readers import read_bytes, read_path

from ...conftest import ecg_like  # noqa: TID252 - helper shared with the storage tests (tests/handlers)


def _replace_line(data: bytes, index: int, new: str) -> bytes:
    lines = data.decode().split("\n")
    lines[index] = new
    return "\n".join(lines).encode()


def test_empty_file() -> None:
    with pytest.raises(EmptyRecord, match="empty"):
        read_bytes(b"", "x.csv")


@pytest.mark.parametrize("blank", [b"\n\n", b"   \r\n"])
def test_blank_file(blank: bytes) -> None:
    with pytest.raises(EmptyRecord):
        read_bytes(blank, "x.csv")


def test_physionet_header_only() -> None:
    with pytest.raises(EmptyRecord, match="no samples"):
        read_bytes(b"'Elapsed time','AECG1'\n'hh:mm:ss.mmm','mV'\n", "x.csv")


def test_generic_header_only() -> None:
    with pytest.raises(EmptyRecord, match="no samples"):
        read_bytes(b"time,ECG1,ECG2\n", "x.csv")


def test_text_in_a_numeric_column_names_line_and_column(physionet_csv) -> None:
    data, _ = physionet_csv()
    data = _replace_line(data, 1002, "'0:02.000',0.100,oops,0.200,0.300")
    with pytest.raises(CorruptRecord, match=r"line 1003, column 3: 'oops' is not a number"):
        read_bytes(data, "x.csv")


def test_ragged_row_names_its_line(physionet_csv) -> None:
    data, _ = physionet_csv()
    data = _replace_line(data, 4001, "'0:08.000',0.100,0.200")
    with pytest.raises(CorruptRecord, match=r"line 4002: 3 fields .* 5 .*ragged"):
        read_bytes(data, "x.csv")


def test_no_ecg_channel_in_physionet_csv() -> None:
    rows = "\n".join(f"'0:{k // 500:02d}.{(k % 500) * 2:03d}',36.{k % 10}" for k in range(6000))
    with pytest.raises(NoEcgChannel, match="volts"):
        read_bytes(f"'Elapsed time','Temp'\n'hh:mm:ss.mmm','degC'\n{rows}\n".encode(), "x.csv")


def test_no_ecg_channel_when_only_time() -> None:
    with pytest.raises(NoEcgChannel):
        read_bytes(("time\n" + "\n".join(f"{k / 500:.3f}" for k in range(6000))).encode(), "x.csv")


def test_recording_shorter_than_ten_seconds(physionet_csv) -> None:
    data, _ = physionet_csv(seconds=9.5)
    with pytest.raises(RecordTooShort, match="9.50 s"):
        read_bytes(data, "x.csv")


def test_sampling_rate_below_250_hz(physionet_csv) -> None:
    data, _ = physionet_csv(seconds=20, fs=200)
    with pytest.raises(SamplingRateTooLow, match="200 Hz"):
        read_bytes(data, "x.csv")


def test_all_samples_invalid(physionet_csv) -> None:
    n, channels = 6000, 2
    data, _ = physionet_csv(channels=channels, invalid=tuple((r, c) for r in range(n) for c in range(channels)))
    with pytest.raises(UnusableSignal, match="all samples invalid"):
        read_bytes(data, "x.csv")


def test_all_channels_flat(physionet_csv) -> None:
    data, _ = physionet_csv(values=np.zeros((6000, 3)))
    with pytest.raises(UnusableSignal, match="flat"):
        read_bytes(data, "x.csv")


def test_one_flat_channel_is_reported_but_kept(physionet_csv) -> None:
    values = ecg_like(6000, 3, seed=9)
    values[:, 1] = 0.0
    data, _ = physionet_csv(values=values)
    record = read_bytes(data, "x.csv")
    assert record.n_channels == 3
    assert record.meta["unusable_channels"] == {"AECG2": "flat"}


def test_absurd_amplitudes(physionet_csv) -> None:
    values = ecg_like(6000, 2, seed=9) * 1000.0  # volts written as millivolts: ~400 mV swings
    data, _ = physionet_csv(values=values)
    with pytest.raises(UnusableSignal, match="absurd amplitude"):
        read_bytes(data, "x.csv")


def test_binary_garbage() -> None:
    garbage = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    with pytest.raises(UnsupportedFormat, match="binary"):
        read_bytes(garbage, "upload.csv")


def test_over_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(RecordTooLarge, match="exceeds"):
        read_bytes(b"x" * 2048, "x.csv", max_bytes=1024)


def test_over_the_size_limit_on_disk(tmp_path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"0" * 4096)
    with pytest.raises(RecordTooLarge):
        read_path(path, max_bytes=1000)


def test_every_reader_error_has_a_machine_code_and_is_a_record_error() -> None:
    for error in (
        CorruptRecord,
        EmptyRecord,
        NoEcgChannel,
        RecordTooLarge,
        RecordTooShort,
        SamplingRateTooLow,
        UnsupportedFormat,
        UnusableSignal,
    ):
        assert issubclass(error, RecordError)
        assert error.code not in ("", RecordError.code)
