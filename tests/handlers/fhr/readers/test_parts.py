"""PartAssembler: a text object cut anywhere, parsed in any order, equals the whole-file parse."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr.errors import CorruptRecord
from handlers.fhr.readers import read_bytes
from handlers.fhr.readers.text import PartAssembler


def _cut(data: bytes, first: int, seed: int, smallest: int, largest: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    cuts = [0, first]
    while cuts[-1] < len(data):
        cuts.append(cuts[-1] + int(rng.integers(smallest, largest)))
    return [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if a < len(data)]


def _assemble(parts: list[bytes], name: str, seed: int) -> np.ndarray:
    assembler = PartAssembler(name, physionet=True)
    assembler.take_layout(parts[0])
    order = np.random.default_rng(seed).permutation(len(parts))  # arrival order does not matter
    for index in order:
        assembler.parse_part(int(index), parts[index])
    return assembler.finish(len(parts))


@pytest.mark.parametrize(("seed", "smallest", "largest"), [(0, 5, 60), (1, 30, 400), (2, 3000, 9000)])
def test_parts_cut_anywhere_equal_the_whole_file(physionet_csv, seed: int, smallest: int, largest: int) -> None:
    data, _ = physionet_csv(seconds=11, fs=500, channels=3, invalid=((3, 1), (5400, 2)))
    parts = _cut(data, 4096, seed, smallest, largest)  # many parts hold no newline at all
    record = _assemble(parts, "x.csv", seed)
    whole = read_bytes(data, "x.csv")
    np.testing.assert_array_equal(record.signals, whole.signals)
    assert record.fs == whole.fs == 500.0


def test_file_without_final_newline(physionet_csv) -> None:
    data, _ = physionet_csv(seconds=11, fs=500, channels=2)
    data = data.rstrip(b"\n")
    record = _assemble(_cut(data, 8192, 3, 500, 5000), "x.csv", 3)
    np.testing.assert_array_equal(record.signals, read_bytes(data, "x.csv").signals)


@pytest.mark.parametrize("bad_line", [1500, 2000])
def test_bad_row_is_reported_at_its_line_whatever_the_cut(physionet_csv, bad_line: int) -> None:
    data, _ = physionet_csv(seconds=11, fs=500, channels=2)
    lines = data.split(b"\n")
    lines[bad_line - 1] = b"'0:03.000',0.1,zz"
    data = b"\n".join(lines)
    with pytest.raises(CorruptRecord, match=f"line {bad_line}, column 3"):
        read_bytes(data, "x.csv")
    for seed in range(4):
        with pytest.raises(CorruptRecord, match=f"line {bad_line}, column 3"):
            _assemble(_cut(data, 4096, seed, 10, 3000), "x.csv", seed)
