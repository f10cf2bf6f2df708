"""Format detection from the file name and its first bytes.

The first bytes win over the name where they are unambiguous (an EDF header, binary garbage),
because uploads often arrive under a generic key such as ``upload.bin`` or a wrong suffix.
"""

from __future__ import annotations

from handlers.fhr.errors import EmptyRecord, UnsupportedFormat

FORMATS = ("wfdb", "physionet-csv", "csv", "edf")
_EDF_MAGIC = b"0       "  # EDF version field: "0" padded to 8 bytes with spaces
_TEXT_SUFFIXES = (".csv", ".txt", ".tsv")


def detect_format(name: str, head: bytes) -> str:
    """Return one of :data:`FORMATS` for a file called ``name`` that starts with ``head``."""
    lower = name.lower()
    if not head:
        raise EmptyRecord(f"{name}: the file is empty")
    if head.startswith(_EDF_MAGIC) or lower.endswith((".edf", ".rec")):
        if not head.startswith(_EDF_MAGIC):
            raise UnsupportedFormat(f"{name}: named as EDF but lacks the EDF version field")
        return "edf"
    if lower.endswith(".dat"):
        raise UnsupportedFormat(f"{name}: a WFDB .dat cannot be read without its .hea header")
    if not _looks_like_text(head):
        raise UnsupportedFormat(f"{name}: binary data that is none of WFDB header, CSV or EDF")
    if lower.endswith(".hea"):
        return "wfdb"
    if _is_physionet_csv(head):
        return "physionet-csv"
    if lower.endswith(_TEXT_SUFFIXES) or _first_line(head):
        return "csv"
    raise UnsupportedFormat(f"{name}: neither the name nor the content identifies a supported format")


def _looks_like_text(head: bytes) -> bool:
    """UTF-8 (or ASCII) text without control characters; a cut multi-byte character at the end is fine."""
    sample = head[:4096]
    if b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:
            return False
        text = sample[: exc.start].decode("utf-8")
    return not any(ord(char) < 32 and char not in "\t\n\r" for char in text)


def _first_line(head: bytes) -> bytes:
    return head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].strip()


def _is_physionet_csv(head: bytes) -> bool:
    """PhysioNet's text export: a quoted names line, then a quoted units line such as ``'hh:mm:ss.mmm','mV'``."""
    lines = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 2)
    return len(lines) >= 2 and lines[0].lstrip().startswith(b"'") and lines[1].lstrip().startswith(b"'")
