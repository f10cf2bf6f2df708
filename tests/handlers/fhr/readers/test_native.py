"""The native CSV parser: the numpy path's float32 bits where it parses, a fallback everywhere else.

The library is the one ``make venv`` builds beside its source, or (when that is missing) one built
here into a temporary directory; without a C compiler these tests are skipped (the numpy path is then
what runs, and its own tests cover it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bundler import native as native_build
from handlers.fhr.readers import native, read_bytes, text
from handlers.fhr.readers.fastnum import BlockSpec, parse_block_numpy

SPEC = BlockSpec(delimiter=44, decimal=46, n_fields=5, value_columns=(1, 2, 3, 4), scales=(1000.0,) * 4, crlf=False)


@pytest.fixture(scope="module")
def parser(tmp_path_factory: pytest.TempPathFactory) -> native.NativeParser:
    loaded = native.load()
    if loaded is None:
        built = native_build.build(tmp_path_factory.mktemp("native"))
        if built is None:
            pytest.skip("no C compiler: the readers run on numpy only")
        loaded = native.load(built)
    assert loaded is not None
    return loaded


def native_rows(parser: native.NativeParser, data: bytes, spec: BlockSpec = SPEC) -> np.ndarray | None:
    out = np.empty((data.count(b"\n"), len(spec.value_columns)), dtype=np.float32)
    rows = parser.parse_into(data, 0, len(data), spec, out)
    return None if rows is None else out[:rows]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def random_rows(seed: int, rows: int, crlf: bool = False) -> bytes:
    """Fields as real exports write them: fixed or mixed decimals, signs, integers, gaps, '-' marks."""
    rng = np.random.default_rng(seed)
    forms = ["{:.3f}", "{:.1f}", "{:.0f}", "{:.5f}", "{:.7f}", "{:.2f}"]
    lines = []
    for row in range(rows):
        cells = [f"'0:{row // 1000:02d}.{row % 1000:03d}'"]
        for _ in range(4):
            pick = rng.integers(0, 20)
            value = rng.normal(0, 2.0) * 10.0 ** rng.integers(-3, 2)
            cell = "-" if pick == 0 else "" if pick == 1 else forms[int(pick) % len(forms)].format(value)
            cells.append(cell if len(cell) <= 8 else f"{value:.3f}"[:8].rstrip("."))
        lines.append(",".join(cells))
    end = "\r\n" if crlf else "\n"
    return (end.join(lines) + end).encode()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("crlf", [False, True])
def test_the_same_float32_bits_as_the_numpy_path(parser: native.NativeParser, seed: int, crlf: bool) -> None:
    data = random_rows(seed, 3000, crlf)
    spec = BlockSpec(44, 46, 5, (1, 2, 3, 4), (1000.0, 1.0, 0.5, 1000.0), crlf)
    got = native_rows(parser, data, spec)
    assert got is not None
    assert same_bits(got, parse_block_numpy(data, 0, len(data), spec))


def test_signs_zeros_gaps_and_a_decimal_comma(parser: native.NativeParser) -> None:
    data = b"t;-0;0,5;;-\nt;12345678;-,5;1;-1234,56\n"
    spec = BlockSpec(59, 44, 5, (1, 2, 3, 4), (1.0,) * 4, False)
    got = native_rows(parser, data, spec)
    assert got is not None and same_bits(got, parse_block_numpy(data, 0, len(data), spec))
    assert np.signbit(got[0, 0]) and np.isnan(got[0, 2]) and np.isnan(got[0, 3])
    assert got[1].tolist() == [12345678.0, -0.5, 1.0, np.float32(-1234.56)]


@pytest.mark.parametrize(
    "row",
    [
        b"t,1e-4,1,2,3\n",  # exponent: the numpy path's float parser takes it
        b"t,'1.5',1,2,3\n",  # quoted number
        b"t, 1.5,1,2,3\n",  # blank
        b"t,123456789,1,2,3\n",  # longer than 8 bytes
        b"t,+1.5,1,2,3\n",
        b"t,1.2.3,1,2,3\n",
        b"t,.,1,2,3\n",
        b"t,-.,1,2,3\n",
        b"t,1,2,3\n",  # a field short
        b"t,1,2,3,4,5\n",  # a field over
        b"t,1,2,3,4",  # no newline at the end
        b"t,1,2,3,4\r\n",  # a carriage return the layout does not expect
        b"t,abc,1,2,3\n",
    ],
)
def test_anything_else_goes_back_to_the_numpy_path(parser: native.NativeParser, row: bytes) -> None:
    good = b"t,1.000,-2.000,3.000,4.000\n" * 5
    assert native_rows(parser, good + row + good) is None


def test_it_writes_no_more_rows_than_it_was_given_room_for(parser: native.NativeParser) -> None:
    data = b"t,1,2,3,4\n" * 10
    memory = np.full((11, 4), 7.0, dtype=np.float32)
    assert parser.parse_into(data, 0, len(data), SPEC, memory[:9]) is None  # room for 9 of the 10 rows
    assert (memory[9:] == 7.0).all()
    with pytest.raises(ValueError, match="not inside"):
        parser.parse_into(data, 0, len(data) + 8, SPEC, np.empty((11, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="not inside"):
        parser.count_lines(data, 5, len(data) + 1)
    assert parser.count_lines(data, 0, len(data)) == 10 and parser.count_lines(data, 3, 3) == 0


def real_layout(values: np.ndarray, fs: float = 1000.0) -> bytes:
    """PhysioNet's text export of set-a: elapsed seconds and millivolts, three decimals each."""
    head = "'Elapsed time'," + ",".join(f"'AECG{i + 1}'" for i in range(values.shape[1]))
    units = "'seconds'," + ",".join("'mV'" for _ in range(values.shape[1]))
    rows = [
        f"{i / fs:.3f}," + ",".join("-" if np.isnan(v) else f"{v:.3f}" for v in row) for i, row in enumerate(values)
    ]
    return "\n".join([head, units, *rows]).encode() + b"\n"


@pytest.mark.parametrize("layout", ["physionet-clock", "physionet-seconds", "crlf"])
def test_read_bytes_gives_the_same_record_with_or_without_the_native_parser(
    parser: native.NativeParser, physionet_csv, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    if layout == "physionet-seconds":
        values = np.round(np.random.default_rng(3).normal(0, 0.3, (30_000, 4)), 3)
        values[100, 2] = np.nan
        data = real_layout(values)
    else:
        data, _ = physionet_csv(seconds=40, fs=1000, invalid=((5, 1),), newline="\r\n" if layout == "crlf" else "\n")
    monkeypatch.setattr(text, "BLOCK_BYTES", 1 << 16)  # many blocks, on both threads
    monkeypatch.setattr(native, "_PARSER", parser)
    monkeypatch.setattr(native, "_LOADED", True)
    with_native = read_bytes(data, "rec.csv")
    monkeypatch.setattr(native, "_PARSER", None)
    without = read_bytes(data, "rec.csv")
    assert same_bits(with_native.signals, without.signals)
    assert (with_native.fs, with_native.channels) == (without.fs, without.channels) == (1000.0, without.channels)


def test_the_library_builds_deterministically(tmp_path: Path) -> None:
    first = native_build.build(tmp_path / "a")
    if first is None:
        pytest.skip("no C compiler")
    second = native_build.build(tmp_path / "b")
    assert second is not None and first.read_bytes() == second.read_bytes()
    assert first.name == native_build.library_name()
