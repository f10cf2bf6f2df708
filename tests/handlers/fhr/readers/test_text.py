"""PhysioNet and generic CSV: values, invalid samples, units, sampling rate, and the fast path's fallbacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from handlers.fhr.errors import MissingSamplingRate
from handlers.fhr.readers import read_bytes
from handlers.fhr.readers.fastnum import BlockSpec, _parse_block_fast, parse_block_generic
from handlers.fhr.readers.text import parse_time


def _microvolts(millivolts: np.ndarray) -> np.ndarray:
    return (millivolts * 1000.0).astype(np.float32)


def test_physionet_csv_values_names_rate_and_invalid_samples(physionet_csv) -> None:
    data, expected = physionet_csv(seconds=12, fs=500, invalid=((0, 0), (17, 2), (5999, 3)))
    record = read_bytes(data, "a01.csv")
    assert record.format == "physionet-csv"
    assert record.fs == 500.0
    assert record.channels == ("AECG1", "AECG2", "AECG3", "AECG4")
    np.testing.assert_array_equal(np.isnan(record.signals), np.isnan(expected))
    np.testing.assert_allclose(record.signals, _microvolts(expected), rtol=1e-6, atol=1e-3)


def test_physionet_csv_agrees_with_pandas(physionet_csv) -> None:
    data, _ = physionet_csv(seconds=15, fs=1000, seed=7)
    import io

    frame = pd.read_csv(io.BytesIO(data), skiprows=[1], quotechar="'")
    record = read_bytes(data, "x.csv")
    np.testing.assert_allclose(record.signals, frame.iloc[:, 1:].to_numpy() * 1000.0, rtol=1e-6, atol=1e-3)


def test_multi_block_file_keeps_row_order(physionet_csv, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.fhr.readers import text

    monkeypatch.setattr(text, "BLOCK_BYTES", 64 * 1024)  # many blocks, parsed on two threads
    data, expected = physionet_csv(seconds=40, fs=1000, channels=2, seed=3)
    assert len(data) > 10 * text.BLOCK_BYTES
    record = read_bytes(data, "long.csv")
    np.testing.assert_allclose(record.signals, _microvolts(expected), atol=1e-3)


def irregular_csv(rows: int = 40_000) -> bytes:
    """Long lines first, short ones later (the one-thread reader's room estimate falls short and grows), an
    exponent in the middle (a block the native parser leaves to numpy) and a last line without a newline."""
    long = [f"{k / 1000:.3f},{k % 7 / 7:.6f},-{k % 5 / 5:.6f}" for k in range(rows // 4)]
    lines = long + [f"{k / 1000:.3f},{k % 3},-1" for k in range(rows // 4, rows)]
    lines[rows // 2] = f"{rows // 2 / 1000:.3f},1e-3,2"
    return ("time,ECG1 [mV],ECG2 [mV]\n" + "\n".join(lines)).encode()


def test_one_thread_and_two_threads_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread parses block after block into an estimated room; two count lines first and share blocks."""
    from handlers.fhr.readers import text

    monkeypatch.setattr(text, "BLOCK_BYTES", 16 * 1024)
    data = irregular_csv()
    records = {}
    for threads in (1, 2):
        with text.parse_threads(threads):
            records[threads] = read_bytes(data, "x.csv").signals
    one, two = records[1], records[2]
    assert one.shape == two.shape == (40_000, 2)
    assert np.array_equal(one.view(np.uint32), two.view(np.uint32))
    assert one[20_000].tolist() == [1.0, 2000.0] and one[-1].tolist() == [1000.0 * (39_999 % 3), -1000.0]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_bad_line_is_named_whatever_the_threads(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    from handlers.fhr.errors import CorruptRecord
    from handlers.fhr.readers import text

    monkeypatch.setattr(text, "BLOCK_BYTES", 16 * 1024)
    lines = irregular_csv().split(b"\n")
    lines[30_001] = b"30.000,oops,1"  # line 30,002 of the file (after the header)
    with text.parse_threads(threads), pytest.raises(CorruptRecord, match=r"line 30002, column 2: 'oops'"):
        read_bytes(b"\n".join(lines), "x.csv")


def test_crlf_line_ends(physionet_csv) -> None:
    data, expected = physionet_csv(newline="\r\n")
    np.testing.assert_allclose(read_bytes(data, "win.csv").signals, _microvolts(expected), atol=1e-3)


def test_microvolt_units_and_non_voltage_columns(physionet_csv) -> None:
    data, expected = physionet_csv(channels=2, unit="uV")
    lines = data.decode().splitlines()
    lines[0] += ",'Resp'"
    lines[1] += ",'NU'"
    lines[2:] = [line + ",0.5" for line in lines[2:]]
    record = read_bytes("\n".join(lines).encode(), "x.csv")
    assert record.channels == ("AECG1", "AECG2")
    np.testing.assert_allclose(record.signals, expected.astype(np.float32), atol=1e-4)


def test_generic_csv_header_time_in_seconds_and_unit_in_name() -> None:
    fs, n = 250, 250 * 12
    values = np.round(np.random.default_rng(2).normal(0, 80, (n, 3)), 1)
    rows = [f"{k / fs:.3f},{values[k, 0]:.1f},{values[k, 1]:.1f},{values[k, 2]:.1f}" for k in range(n)]
    data = ("time,ECG1 [uV],ECG2 [uV],ECG3 [uV]\n" + "\n".join(rows) + "\n").encode()
    record = read_bytes(data, "x.csv")
    assert record.format == "csv"
    assert record.fs == 250.0
    assert record.channels == ("ECG1", "ECG2", "ECG3")
    np.testing.assert_allclose(record.signals, values, atol=1e-3)
    assert record.meta["units_guessed"] is None


def test_generic_csv_semicolons_decimal_commas_clock_time_no_header() -> None:
    fs, n = 500, 500 * 11
    values = np.round(np.random.default_rng(4).normal(0, 0.3, (n, 2)), 4)
    rows = []
    for k in range(n):
        seconds = k / fs
        cells = [f"{v:.4f}".replace(".", ",") for v in values[k]]
        rows.append(f"00:{int(seconds) // 60:02d}:{seconds % 60:06.3f};" + ";".join(cells))
    record = read_bytes(("\n".join(rows) + "\n").encode(), "export.txt")
    assert record.fs == 500.0
    assert record.meta["units_guessed"] == "mV"  # no units anywhere: millivolt-sized values
    np.testing.assert_allclose(record.signals, values * 1000.0, atol=1e-2)


def test_generic_tab_separated_without_time_needs_fs() -> None:
    values = np.round(np.random.default_rng(5).normal(0, 100, (300 * 12, 2)))
    data = ("\n".join(f"{a:.0f}\t{b:.0f}" for a, b in values) + "\n").encode()
    with pytest.raises(MissingSamplingRate):
        read_bytes(data, "x.tsv")
    record = read_bytes(data, "x.tsv", fs=300)
    assert record.meta["units_guessed"] == "uV"
    np.testing.assert_allclose(record.signals, values, atol=1e-3)


def test_irregular_number_formats_take_the_generic_path() -> None:
    fs, n = 1000, 10_500
    rng = np.random.default_rng(6)
    values = rng.normal(0, 0.5, (n, 2))
    rows = [f"{k / fs:.3f},{values[k, 0]:.6g},{values[k, 1]:.9e}" for k in range(n)]
    data = ("t,a (mV),b (mV)\n" + "\n".join(rows)).encode()  # and no final newline
    record = read_bytes(data, "x.csv")
    np.testing.assert_allclose(record.signals, values * 1000.0, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("seed", range(6))
def test_fast_path_equals_generic_path_on_random_fields(seed: int) -> None:
    """Signs, zero, '-', empty fields, 0-6 decimals mixed within a column, '.5' and '5.', up to 8
    characters: both paths must agree exactly."""
    rng = np.random.default_rng(seed)
    n = 2000
    columns = []
    for _ in range(3):
        decimals = rng.integers(0, 7, size=n)
        magnitude = 10.0 ** rng.integers(0, 7, size=n)
        column = []
        for q, v in zip(decimals, rng.uniform(-1, 1, n) * magnitude, strict=True):
            text = f"{v:.{q}f}"
            while len(text) > 8 and "." in text:
                text = text[:-1].rstrip(".")
            column.append(text if len(text) <= 8 else "0")
        column[:4] = [".5", "5.", "-.25", "-3."]
        columns.append(column)
    for _ in range(20):
        columns[int(rng.integers(3))][int(rng.integers(n))] = "-" if rng.random() < 0.5 else ""
    body = "".join(f"{r},{columns[0][r]},{columns[1][r]},{columns[2][r]}\n" for r in range(n))
    data = ("#" * 16 + "\n" + body).encode()
    spec = BlockSpec(44, 46, 4, (1, 2, 3), (1.0, 2.0, 1000.0), False)
    fast = _parse_block_fast(data, 17, len(data), spec)
    assert fast is not None, "every field fits the fast path"
    generic = parse_block_generic(data[17:], spec)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(generic))
    np.testing.assert_allclose(fast, generic, rtol=2e-7)


@pytest.mark.parametrize("field", ["1.2.3", "12a.000", "--1.000", "1-2", ".", "-.", "0x10"])
def test_fast_path_refuses_what_is_not_a_number(field: str) -> None:
    data = ("#" * 16 + "\n" + "".join(f"0,{v}\n" for v in ["1.000", field, "-2.500"])).encode()
    spec = BlockSpec(44, 46, 2, (1,), (1.0,), False)
    assert _parse_block_fast(data, 17, len(data), spec) is None


@pytest.mark.parametrize("field", ["1e5", "+1.000", "123456789", "-0.000123456789", " 2.5 "])
def test_fast_path_patches_other_number_syntax(field: str) -> None:
    data = ("#" * 16 + "\n" + "".join(f"0,{v}\n" for v in ["1.000", field, "-2.500"])).encode()
    spec = BlockSpec(44, 46, 2, (1,), (1.0,), False, decimals=(3,))
    parsed = _parse_block_fast(data, 17, len(data), spec)
    assert parsed is not None
    np.testing.assert_array_equal(parsed[:, 0], np.array([1.0, float(field), -2.5], dtype=np.float32))


@pytest.mark.parametrize(
    ("token", "seconds"),
    [("'0:00.000'", 0.0), ("'29:59.999'", 1799.999), ("'1:00:00.004'", 3600.004), ("12.5", 12.5), ("00:01:02,5", 62.5)],
)
def test_parse_time(token: str, seconds: float) -> None:
    assert parse_time(token) == pytest.approx(seconds)


def test_a_decimals_hint_that_stops_holding_still_parses_exactly() -> None:
    """The sniffer's hint comes from the first rows; later rows printed differently must not be misread."""
    rows = ["0.125", "-0.5", "12", "-7.25", "3.000", ".75", "1234.5"]
    data = ("#" * 16 + "\n" + "".join(f"0,{v}\n" for v in rows)).encode()
    hinted = BlockSpec(44, 46, 2, (1,), (1.0,), False, decimals=(3,))
    fast = _parse_block_fast(data, 17, len(data), hinted)
    assert fast is not None
    np.testing.assert_array_equal(fast[:, 0], np.array([float(v) for v in rows], dtype=np.float32))


def test_shortest_round_trip_floats_with_exponents_parse_exactly() -> None:
    """pandas' to_csv writes -0.0007 next to -1e-04: the odd fields are patched, the rest stays fast."""
    fs, n = 1000, 11_000
    values = np.round(np.random.default_rng(8).normal(0, 0.001, (n, 2)), 4).astype(np.float32)  # float32 prints 1e-04
    frame = pd.DataFrame({"time": np.arange(n) / fs, "a (mV)": values[:, 0], "b (mV)": values[:, 1]})
    data = frame.to_csv(index=False).encode()
    assert b"e-0" in data
    record = read_bytes(data, "x.csv")
    np.testing.assert_allclose(record.signals, values.astype(np.float64) * 1000.0, rtol=1e-6)


def test_quoted_numbers_and_scientific_notation_parse_exactly() -> None:
    """A spreadsheet export: every number quoted, in scientific notation; infinities become invalid."""
    fs, n = 500, 6000
    values = np.random.default_rng(12).normal(0, 0.3, (n, 2))
    rows = [f'"{k / fs:.3f}","{values[k, 0]:.6e}","{values[k, 1]:.6e}"' for k in range(n)]
    rows[10] = f'"{10 / fs:.3f}","inf","{values[10, 1]:.6e}"'
    data = ('"time","ECG1 (mV)","ECG2 (mV)"\n' + "\n".join(rows) + "\n").encode()
    record = read_bytes(data, "export.csv")
    expected = values * 1000.0
    expected[10, 0] = np.nan
    np.testing.assert_array_equal(np.isnan(record.signals), np.isnan(expected))
    np.testing.assert_allclose(record.signals, expected, rtol=1e-6, atol=1e-3)
    assert record.fs == 500.0
