"""Readers: bytes or a path in, a validated :class:`~handlers.fhr.record.Record` (microvolts) out.

Formats: WFDB (``.hea`` + ``.dat``, formats 16/212), PhysioNet text CSV (two quoted header lines,
elapsed time, ``-`` for invalid), generic CSV (comma/semicolon/tab, optional header and time
column) and EDF/EDF+ (16-bit). Every reader ends in :func:`validate_record`, so the estimator
only ever sees records it can use; bad input raises a subclass of
:class:`handlers.fhr.errors.RecordError` with a human message.
"""

from __future__ import annotations

from pathlib import Path

from handlers.fhr.errors import EmptyRecord, RecordTooLarge, UnsupportedFormat
from handlers.fhr.readers.detect import FORMATS, detect_format
from handlers.fhr.readers.validate import validate_record
from handlers.fhr.record import Record

__all__ = ["FORMATS", "MAX_RECORD_BYTES", "detect_format", "read_bytes", "read_path"]

# 16 channels x 30 min x 1 kHz of text CSV is ~270 MB; above this we refuse rather than exhaust memory.
MAX_RECORD_BYTES = 512 * 1024 * 1024


def read_bytes(
    data: bytes,
    name: str,
    companion: bytes | None = None,
    *,
    max_bytes: int = MAX_RECORD_BYTES,
    fs: float | None = None,
) -> Record:
    """Parse one record held in memory. ``companion`` is the ``.dat`` when ``name`` is a ``.hea``.

    ``fs`` sets a text file's sampling rate: required without a time column, else it wins over it.
    """
    total = len(data) + (len(companion) if companion is not None else 0)
    if total > max_bytes:
        raise RecordTooLarge(f"{name}: {total} bytes exceeds the {max_bytes}-byte limit")
    if not data:
        raise EmptyRecord(f"{name}: the file is empty")
    fmt = detect_format(name, data[:4096])
    return validate_record(_parse(fmt, data, name, companion, fs))


def read_path(path: str | Path, *, max_bytes: int = MAX_RECORD_BYTES, fs: float | None = None) -> Record:
    """Parse a record from disk; for WFDB give the ``.hea`` (or the record path without suffix)."""
    path = Path(path)
    if path.suffix.lower() in ("", ".dat") and path.with_suffix(".hea").exists():
        path = path.with_suffix(".hea")  # a WFDB record named by its base name or its signal file
    size = path.stat().st_size
    if size > max_bytes:
        raise RecordTooLarge(f"{path}: {size} bytes exceeds the {max_bytes}-byte limit")
    data = path.read_bytes()
    if not data:
        raise EmptyRecord(f"{path}: the file is empty")
    fmt = detect_format(path.name, data[:4096])
    if fmt == "wfdb":
        from handlers.fhr.readers.wfdb import parse_header, read_wfdb

        header = parse_header(data.decode("ascii", errors="replace"), str(path))
        names = {spec.file_name for spec in header.signals}
        dat_files = {
            file_name: (path.parent / file_name).read_bytes()
            for file_name in names
            if (path.parent / file_name).exists()
        }
        return validate_record(read_wfdb(data, dat_files, str(path)))
    return validate_record(_parse(fmt, data, str(path), None, fs))


def _parse(fmt: str, data: bytes, name: str, companion: bytes | None, fs: float | None) -> Record:
    """Dispatch to one format's reader; each module is imported only when its format is met."""
    if fmt == "wfdb":
        from handlers.fhr.readers.wfdb import parse_header, read_wfdb

        if companion is None:
            raise UnsupportedFormat(f"{name}: a WFDB header needs its .dat signal file alongside")
        header = parse_header(data.decode("ascii", errors="replace"), name)
        files = {spec.file_name for spec in header.signals}
        return read_wfdb(data, dict.fromkeys(files, companion), name)
    if fmt == "edf":
        from handlers.fhr.readers.edf import read_edf

        return read_edf(data, name)
    from handlers.fhr.readers.text import read_text

    return read_text(data, name, physionet=(fmt == "physionet-csv"), fs=fs)
