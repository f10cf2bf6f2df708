"""Format detection from the name and the first bytes."""

from __future__ import annotations

import pytest

from handlers.fhr.errors import EmptyRecord, UnsupportedFormat
from handlers.fhr.readers import FORMATS, detect_format


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("a01.hea", b"a01 4 1000 60000\na01.dat 16 10/uV 12 0 -33 14459 0 AECG1\n", "wfdb"),
        ("a01.csv", b"'Elapsed time','AECG1'\n'hh:mm:ss.mmm','mV'\n'0:00.000',0.1\n", "physionet-csv"),
        ("upload", b"'Elapsed time','AECG1'\n'hh:mm:ss.mmm','mV'\n", "physionet-csv"),
        ("x.csv", b"time,ECG1\n0.000,0.1\n", "csv"),
        ("x.txt", b"0.1;0.2\n0.3;0.4\n", "csv"),
        ("noname", b"1\t2\n3\t4\n", "csv"),
        ("rec.edf", b"0       patient", "edf"),
        ("rec.bin", b"0       patient", "edf"),
        ("x.csv", b"\xef\xbb\xbftime,ECG1 (\xc2\xb5V)\n0.000,1\n", "csv"),
    ],
)
def test_detects(name: str, head: bytes, expected: str) -> None:
    assert detect_format(name, head) == expected
    assert expected in FORMATS


@pytest.mark.parametrize(
    ("name", "head", "message"),
    [
        ("a01.dat", b"\x01\x02" * 100, r"\.hea"),
        ("x.edf", b"garbage header", "EDF version"),
        ("x.csv", b"PK\x03\x04\x00\x00zip", "binary"),
        ("x.hea", bytes(range(256)), "binary"),
    ],
)
def test_refuses(name: str, head: bytes, message: str) -> None:
    with pytest.raises(UnsupportedFormat, match=message):
        detect_format(name, head)


def test_empty_head() -> None:
    with pytest.raises(EmptyRecord):
        detect_format("x.csv", b"")
