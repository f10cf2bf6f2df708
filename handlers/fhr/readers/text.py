"""Text readers: PhysioNet's CSV export and generic delimited files.

The layout (delimiter, header lines, which column is time, units) is worked out once
from the first lines by :func:`sniff_layout`; the body is then parsed block by block by
:mod:`handlers.fhr.readers.fastnum`, two blocks at a time on two threads. The same layout and
block parser serve the S3 streamer, which parses parts as they arrive.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from handlers.fhr.errors import CorruptRecord, EmptyRecord, MissingSamplingRate, NoEcgChannel
from handlers.fhr.readers.fastnum import BlockSpec, RowProblem, parse_block, parse_block_into
from handlers.fhr.readers.native import count_lines
from handlers.fhr.readers.native import parser as native_parser
from handlers.fhr.readers.units import microvolt_scale
from handlers.fhr.record import Record

BLOCK_BYTES = 1 << 20
_SNIFF_BYTES = 1 << 16
_SNIFF_ROWS = 200
_DELIMITERS = (b",", b";", b"\t")
_TIME_UNITS = {"hh:mm:ss.mmm", "hh:mm:ss", "mm:ss.mmm", "s", "sec", "secs", "seconds", "time"}
_TIME_NAME = re.compile(r"^(elapsed[ _]?)?time\b|^t$|^t[ _]?\(?s\)?$|^sec(ond)?s?\b|^timestamp", re.IGNORECASE)
_SAMPLE_NAME = re.compile(r"^sample\s*(#|number|no\.?|index)?$", re.IGNORECASE)
_UNIT_IN_NAME = re.compile(r"[\[(]\s*([^\])]+?)\s*[\])]\s*$")
_CLOCK = re.compile(r"^\d+(:\d+)+([.,]\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d*,\d+$")
_NUMBER = re.compile(rb"^[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?$")
# Without units, a column whose typical peak stays below this is taken as millivolts, else microvolts.
_MILLIVOLT_GUESS_LIMIT = 50.0


@dataclass(frozen=True)
class TextLayout:
    """Everything the block parser and the sampling-rate logic need to know about one text file."""

    format: str  # "physionet-csv" or "csv"
    spec: BlockSpec
    names: tuple[str, ...]  # of the value columns
    time_column: int | None
    sample_column: int | None  # a "sample #" column: an index, no time information
    data_start: int  # byte offset of the first data line
    header_lines: int
    units_known: bool  # False: the scale was guessed from the amplitudes after parsing


_executor: Executor | None = None
_executor_threads = 0


def parse_executor() -> Executor:
    """Two threads (a 1,769 MB+ Lambda has two vCPUs): numpy releases the GIL in each operation."""
    global _executor, _executor_threads
    if _executor is None:
        _executor_threads = min(2, os.cpu_count() or 1)
        _executor = ThreadPoolExecutor(max_workers=_executor_threads, thread_name_prefix="fhr-parse")
    return _executor


@contextlib.contextmanager
def parse_threads(count: int) -> Iterator[None]:
    """Parse on ``count`` threads meanwhile (the benchmarks' one-vCPU case), then as before."""
    global _executor, _executor_threads
    saved = _executor, _executor_threads
    _executor, _executor_threads = ThreadPoolExecutor(max_workers=count, thread_name_prefix="fhr-parse"), count
    try:
        yield
    finally:
        assert _executor is not None
        _executor.shutdown()
        _executor, _executor_threads = saved


def read_text(data: bytes, name: str, physionet: bool, fs: float | None = None) -> Record:
    """Parse a whole text record held in memory."""
    layout = sniff_layout(data, name, physionet)
    end = _content_end(data)
    if end <= layout.data_start:
        raise EmptyRecord(f"{name}: a header and no samples")
    last_newline = data.rfind(b"\n", layout.data_start, end) + 1
    blocks = list(_blocks(data, layout.data_start, max(last_newline, layout.data_start), BLOCK_BYTES))
    tail = data[last_newline:end] + b"\n" if last_newline < end else b""  # a last line without a newline
    signals = _parse_into(data, blocks, tail, layout, name)
    rate = fs if fs is not None else sampling_rate(data, layout, signals.shape[0], end, name)
    return finish_record(signals, layout, rate, name)


def finish_record(signals: np.ndarray, layout: TextLayout, fs: float, source: str) -> Record:
    """Apply the guessed unit scale when the file named none, and wrap the samples as a Record."""
    meta: dict[str, object] = {"units_guessed": None}
    if not layout.units_known and signals.size:
        millivolts = _looks_like_millivolts(signals)
        meta["units_guessed"] = "mV" if millivolts else "uV"
        if millivolts:
            signals *= np.float32(1000.0)
    return Record(signals=signals, fs=fs, channels=layout.names, source=source, format=layout.format, meta=meta)


def _looks_like_millivolts(signals: np.ndarray) -> bool:
    sample = signals[:: max(1, signals.shape[0] // 50_000)]
    finite = np.abs(sample[np.isfinite(sample)])
    return bool(finite.size) and float(np.percentile(finite, 99)) < _MILLIVOLT_GUESS_LIMIT


def _stack(parts: Sequence[np.ndarray], spec: BlockSpec) -> np.ndarray:
    if not parts:
        return np.empty((0, len(spec.value_columns)), dtype=np.float32)
    return np.concatenate(parts, axis=0) if len(parts) > 1 else np.ascontiguousarray(parts[0])


def _parse_into(data: bytes, blocks: list[tuple[int, int]], tail: bytes, layout: TextLayout, source: str) -> np.ndarray:
    """Parse every block straight into its rows of one preallocated matrix.

    WHY count first: collecting per-block arrays and concatenating them holds the samples twice
    at the peak (~29 MB more for 30 min x 4 channels); counting newlines costs a few ms on the
    same threads.
    """
    executor = parse_executor() if len(blocks) > 2 else None
    if executor is None or _executor_threads < 2:
        return _parse_in_turn(data, blocks, tail, layout, source)
    counts = [count_lines(data, lo, hi) for lo, hi in blocks]
    starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    tail_rows = 1 if tail else 0
    out = np.empty((int(starts[-1]) + tail_rows, len(layout.spec.value_columns)), dtype=np.float32)

    def parse(index: int) -> None:
        lo, hi = blocks[index]
        try:
            parse_block_into(data, lo, hi, layout.spec, out[starts[index] : starts[index + 1]])
        except RowProblem as problem:
            line = layout.header_lines + 1 + int(starts[index])
            raise problem.at_line(source, line) from None

    if executor:
        list(executor.map(parse, range(len(blocks))))
    else:
        for index in range(len(blocks)):
            parse(index)
    if tail:
        try:
            out[-1:] = parse_block(tail, 0, len(tail), layout.spec)
        except RowProblem as problem:
            raise problem.at_line(source, layout.header_lines + 1 + int(starts[-1])) from None
    return out


def _parse_in_turn(
    data: bytes, blocks: list[tuple[int, int]], tail: bytes, layout: TextLayout, source: str
) -> np.ndarray:
    """One thread: each block parsed straight after the rows of the one before, without the count.

    WHY: on one thread the count is a pass of its own over the whole record (~10 ms per 60 MB, 4 % of
    bytes -> result). The room is estimated from the first block's line length (files are regular); a
    block that does not fit grows it (a copy, only for irregular files). The unused end is never
    touched, so it costs address space, not memory."""
    spec = layout.spec
    native = native_parser()
    width = len(spec.value_columns)
    rows = 0
    out = np.empty((_room_estimate(data, blocks) + (1 if tail else 0), width), dtype=np.float32)
    parts = [(data, lo, hi) for lo, hi in blocks] + ([(tail, 0, len(tail))] if tail else [])
    for buffer, lo, hi in parts:
        parsed = native.parse_into(buffer, lo, hi, spec, out[rows:]) if native is not None else None
        if parsed is None:  # the numpy path, or no room left: the block alone, then placed
            try:
                block = parse_block(buffer, lo, hi, spec)
            except RowProblem as problem:
                raise problem.at_line(source, layout.header_lines + 1 + rows) from None
            if rows + block.shape[0] > out.shape[0]:
                grown = np.empty((2 * (rows + block.shape[0]), width), dtype=np.float32)
                grown[:rows] = out[:rows]
                out = grown
            out[rows : rows + block.shape[0]] = block
            parsed = block.shape[0]
        rows += parsed
    return out[:rows]


def _room_estimate(data: bytes, blocks: list[tuple[int, int]]) -> int:
    """Rows the blocks hold if every line is as long as the first block's, plus 1 % and a little."""
    if not blocks:
        return 0
    lo, hi = blocks[0]
    per_byte = count_lines(data, lo, hi) / max(1, hi - lo)
    return int((blocks[-1][1] - lo) * per_byte * 1.01) + 64


def _blocks(data: bytes | memoryview, lo: int, hi: int, size: int) -> Iterable[tuple[int, int]]:
    """Split ``[lo, hi)`` into runs of whole lines of about ``size`` bytes."""
    raw = data if isinstance(data, bytes) else bytes(data)
    while lo < hi:
        cut = hi if hi - lo <= size else raw.rfind(b"\n", lo, lo + size) + 1
        if cut <= lo:  # one line longer than a block
            cut = raw.find(b"\n", lo + size, hi) + 1 or hi
        yield lo, cut
        lo = cut


def _content_end(data: bytes) -> int:
    end = len(data)
    while end > 0 and data[end - 1 : end] in (b"\n", b"\r", b" ", b"\t", b"\x00"):
        end -= 1
    return end


# ---------------------------------------------------------------------------------------------
# Layout


def sniff_layout(data: bytes, name: str, physionet: bool) -> TextLayout:
    """Work out the layout from the first lines; raise a precise error for a file we cannot read."""
    head = data[:_SNIFF_BYTES]
    if head.startswith(b"\xef\xbb\xbf"):
        head = b"   " + head[3:]  # keep byte offsets; the BOM becomes blanks stripped with the names
    text = head.decode("utf-8", errors="replace")
    lines = text.split("\n")
    complete = lines[:-1] if len(head) == _SNIFF_BYTES else lines
    complete = [line.rstrip("\r") for line in complete]
    crlf = "\r\n" in text[: text.find("\n") + 1] if "\n" in text else False
    if not any(line.strip() for line in complete):
        raise EmptyRecord(f"{name}: no content")
    if physionet:
        return _physionet_layout(head, complete, name, crlf)
    return _generic_layout(head, complete, name, crlf)


def _physionet_layout(head: bytes, lines: list[str], name: str, crlf: bool) -> TextLayout:
    delimiter = _pick_delimiter(lines[:2], name)
    names = [_unquote(field) for field in lines[0].split(delimiter)]
    units = [_unquote(field) for field in lines[1].split(delimiter)]
    if len(units) != len(names):
        raise CorruptRecord(f"{name}: {len(names)} column names but {len(units)} units on the second line")
    time_column = next((i for i, unit in enumerate(units) if unit.lower() in _TIME_UNITS), None)
    sample_column = next((i for i, n in enumerate(names) if _SAMPLE_NAME.match(n)), None)
    value_columns = [
        i for i, unit in enumerate(units) if i not in (time_column, sample_column) and microvolt_scale(unit) is not None
    ]
    if not value_columns:
        raise NoEcgChannel(f"{name}: no column in volts (units: {units})")
    data_lines = [line for line in lines[2 : 2 + _SNIFF_ROWS] if line.strip()]
    if not data_lines:
        raise EmptyRecord(f"{name}: a header and no samples")
    spec = BlockSpec(
        delimiter=ord(delimiter),
        decimal=46,
        n_fields=len(names),
        value_columns=tuple(value_columns),
        scales=tuple(float(microvolt_scale(units[i]) or 1.0) for i in value_columns),
        crlf=crlf,
        decimals=_decimals_hint(data_lines, value_columns, delimiter, "."),
    )
    return TextLayout(
        format="physionet-csv",
        spec=spec,
        names=tuple(names[i] for i in value_columns),
        time_column=time_column,
        sample_column=sample_column,
        data_start=_offset_of_line(head, 2),
        header_lines=2,
        units_known=True,
    )


def _generic_layout(head: bytes, lines: list[str], name: str, crlf: bool) -> TextLayout:
    candidates = [line for line in lines[: _SNIFF_ROWS + 1] if line.strip()]
    delimiter = _pick_delimiter(candidates, name)
    first = [_unquote(field) for field in candidates[0].split(delimiter)]
    has_header = any(not _is_data_token(field) for field in first)
    data_lines = candidates[1:] if has_header else candidates
    if not data_lines:
        raise EmptyRecord(f"{name}: a header and no samples")
    n_fields = len(first)
    names = first if has_header else [f"ch{i + 1}" for i in range(n_fields)]
    decimal = _decimal_mark(data_lines, delimiter)
    time_column = _time_column(names if has_header else None, data_lines, delimiter, decimal)
    sample_column = next((i for i, n in enumerate(names) if has_header and _SAMPLE_NAME.match(n)), None)
    units = [_unit_in_name(n) for n in names]
    value_columns = [
        i
        for i in range(n_fields)
        if i not in (time_column, sample_column) and (units[i] is None or microvolt_scale(units[i] or "") is not None)
    ]
    if not value_columns:
        raise NoEcgChannel(f"{name}: no ECG column (only time or non-voltage columns)")
    units_known = all(units[i] is not None for i in value_columns)
    spec = BlockSpec(
        delimiter=ord(delimiter),
        decimal=ord(decimal),
        n_fields=n_fields,
        value_columns=tuple(value_columns),
        scales=tuple(float(microvolt_scale(units[i] or "") or 1.0) if units_known else 1.0 for i in value_columns),
        crlf=crlf,
        decimals=_decimals_hint(data_lines, value_columns, delimiter, decimal),
    )
    header_lines = 1 if has_header else 0
    return TextLayout(
        format="csv",
        spec=spec,
        names=tuple(_strip_unit(names[i]) for i in value_columns),
        time_column=time_column,
        sample_column=sample_column,
        data_start=_offset_of_line(head, _leading_blank_lines(lines) + header_lines),
        header_lines=header_lines,
        units_known=units_known,
    )


def _pick_delimiter(lines: list[str], name: str) -> str:
    """The delimiter that splits every sniffed line into the same number (> 1) of fields.

    Tab and semicolon are tried before comma: files that use them often write decimal commas.
    """
    for candidate in ("\t", ";", ","):
        counts = {line.count(candidate) for line in lines if line.strip()}
        if len(counts) == 1 and counts.pop() > 0:
            return candidate
    if lines and all(_NUMBER.match(line.strip().encode()) for line in lines[1:] if line.strip()):
        return ","  # a single column: no delimiter at all
    raise CorruptRecord(f"{name}: rows do not split into the same number of fields by comma, semicolon or tab")


def _is_data_token(token: str) -> bool:
    """A number, a clock time, or an invalid-sample mark: what data rows hold, unlike a header."""
    return token in ("", "-") or bool(_NUMBER.match(token.encode()) or _CLOCK.match(token))


def _decimal_mark(lines: list[str], delimiter: str) -> str:
    """',' when a semicolon- or tab-separated file writes numbers like ``-0,123``; else '.'."""
    if delimiter == ",":
        return "."
    tokens = [field.strip().strip("'\"") for line in lines[:20] for field in line.split(delimiter)]
    return "," if any(_DECIMAL_COMMA.match(token) for token in tokens) else "."


def _decimals_hint(lines: list[str], columns: list[int], delimiter: str, decimal: str) -> tuple[int, ...] | None:
    """Digits after the mark per value column when the first rows all agree (lets the parser skip
    looking for the mark in every field), else None."""
    seen: list[set[int]] = [set() for _ in columns]
    for line in lines[:50]:
        fields = line.split(delimiter)
        for slot, column in enumerate(columns):
            token = fields[column].strip() if column < len(fields) else ""
            if token not in ("", "-"):
                seen[slot].add(len(token) - token.index(decimal) - 1 if decimal in token else 0)
    if any(len(found) != 1 for found in seen):
        return None
    hint = tuple(found.pop() for found in seen)
    return hint if max(hint) < 8 else None


def _time_column(names: list[str] | None, lines: list[str], delimiter: str, decimal: str) -> int | None:
    if names is not None:
        for index, column_name in enumerate(names):
            if _TIME_NAME.match(_strip_unit(column_name)) or (_unit_in_name(column_name) or "").lower() in _TIME_UNITS:
                return index
    fields = [line.split(delimiter) for line in lines[:50]]
    if fields and ":" in fields[0][0]:
        return 0
    try:
        first = np.array([float(row[0].strip().strip("'\"").replace(decimal, ".")) for row in fields])
    except (ValueError, IndexError):
        return None
    steps = np.diff(first)
    if steps.size >= 3 and steps.min() > 0 and np.ptp(steps) <= 1e-6 + 0.01 * steps.mean():
        return 0  # strictly increasing at a constant step: a time axis, not an ECG
    return None


def _unit_in_name(column_name: str) -> str | None:
    match = _UNIT_IN_NAME.search(column_name)
    return match.group(1) if match else None


def _strip_unit(column_name: str) -> str:
    return _UNIT_IN_NAME.sub("", column_name).strip()


def _unquote(field: str) -> str:
    return field.strip().strip("'\"").strip()


def _offset_of_line(head: bytes, index: int) -> int:
    """Byte offset where line ``index`` (0-based) starts."""
    offset = 0
    for _ in range(index):
        offset = head.index(b"\n", offset) + 1
    return offset


def _leading_blank_lines(lines: list[str]) -> int:
    count = 0
    while count < len(lines) and not lines[count].strip():
        count += 1
    return count


# ---------------------------------------------------------------------------------------------
# Sampling rate


def parse_time(token: str) -> float:
    """Seconds from ``'1:02:03.456'``, ``'02:03.456'`` or ``'123.456'`` (quotes allowed)."""
    cleaned = token.strip().strip("'\"").replace(",", ".")
    seconds = 0.0
    for part in cleaned.split(":"):
        seconds = seconds * 60.0 + float(part)
    return seconds


def sampling_rate(data: bytes, layout: TextLayout, n_rows: int, end: int, name: str) -> float:
    """From the time column of a whole file in memory (see :func:`rate_from_lines`)."""
    head = data[layout.data_start : layout.data_start + _SNIFF_BYTES]
    last_line = data[data.rfind(b"\n", 0, end) + 1 : end]
    return rate_from_lines(head, last_line, layout, n_rows, name)


def rate_from_lines(head: bytes, last_line: bytes, layout: TextLayout, n_rows: int, name: str) -> float:
    """Rows over the span between the first and last time stamps.

    ``head`` starts at the first data line. The first rows' median step must agree with the
    overall rate, so a time column with gaps is reported rather than silently giving a wrong rate.
    """
    if layout.time_column is None:
        raise MissingSamplingRate(
            f"{name}: no time column and no sampling rate given; add an elapsed-time column or pass fs"
        )
    delimiter = chr(layout.spec.delimiter)
    lines = head.decode("utf-8", "replace").split("\n")
    first_lines = [line for line in lines[:-1] if line.strip()][:_SNIFF_ROWS]
    try:
        times = [parse_time(line.split(delimiter)[layout.time_column]) for line in first_lines]
        last = parse_time(last_line.decode("utf-8", "replace").split(delimiter)[layout.time_column])
    except (ValueError, IndexError) as exc:
        raise CorruptRecord(f"{name}: the time column holds something that is not a time ({exc})") from None
    return rate_from_times(times, last, n_rows, name)


def rate_from_times(first_times: list[float], last_time: float, n_rows: int, name: str) -> float:
    if n_rows < 2 or len(first_times) < 2:
        raise CorruptRecord(f"{name}: too few rows to derive a sampling rate from the time column")
    span = last_time - first_times[0]
    steps = np.diff(first_times)
    if span <= 0 or steps.min() <= 0:
        raise CorruptRecord(f"{name}: the time column does not increase")
    rate = (n_rows - 1) / span
    step_rate = 1.0 / float(np.median(steps))
    if abs(step_rate - rate) > 0.02 * rate:
        raise CorruptRecord(
            f"{name}: time column is irregular ({step_rate:.4g} Hz from the first rows, {rate:.4g} Hz overall)"
        )
    nearest = round(rate)
    return float(nearest) if abs(rate - nearest) <= 1e-3 * rate else rate


# ---------------------------------------------------------------------------------------------
# Streaming: parts of one object, parsed as they arrive


@dataclass
class PartResult:
    """One part, cut into jobs of whole lines: the partial line it starts with, its jobs, the partial
    line it ends with. ``head`` holds the whole part when it has no newline at all."""

    index: int
    skip: int = 0  # part 0: the header bytes still to drop
    head: bytes | None = None  # bytes up to and including the first newline (b"" for part 0)
    pending: list[bytes] = field(default_factory=list)  # bytes after the last newline cut so far
    pending_size: int = 0
    jobs: int = 0
    blocks: dict[int, np.ndarray] = field(default_factory=dict)
    problems: dict[int, RowProblem] = field(default_factory=dict)
    tail: bytes = b""
    last_line: bytes = b""
    closed: bool = False


Job = tuple[int, int, bytes, int, int]  # (part, job number, buffer, lo, hi): whole lines buffer[lo:hi]


class PartAssembler:
    """Parses a text object part by part, in any arrival order, each part chunk by chunk.

    Part 0 gives the layout. Within a part, bytes are cut into jobs of whole lines (~1 MiB) as they
    arrive, so a part is being parsed while the rest of it is still on the wire; the one line cut
    by each part boundary is parsed at the end from the two fragments. ``feed``/``close`` run on
    the event loop (cheap: they only find newlines); ``parse_job`` runs on worker threads;
    ``finish`` once, after every job of every part.
    """

    JOB_BYTES = BLOCK_BYTES

    def __init__(self, name: str, physionet: bool, fs: float | None = None) -> None:
        self.name = name
        self.physionet = physionet
        self.fs = fs
        self.layout: TextLayout | None = None
        self.head_rows = b""
        self.parts: dict[int, PartResult] = {}

    def take_layout(self, first_bytes: bytes) -> TextLayout:
        """Sniff the layout from the object's first bytes (at least 64 KiB, or all of a smaller object)."""
        self.layout = sniff_layout(first_bytes, self.name, self.physionet)
        self.head_rows = first_bytes[self.layout.data_start : self.layout.data_start + _SNIFF_BYTES]
        return self.layout

    def open_part(self, index: int) -> PartResult:
        if self.layout is None:
            raise RuntimeError("take_layout(first bytes) must run before parts are opened")
        part = PartResult(
            index=index, skip=self.layout.data_start if index == 0 else 0, head=b"" if index == 0 else None
        )
        self.parts[index] = part
        return part

    def feed(self, part: PartResult, chunk: bytes, final: bool = False) -> Job | None:
        """Take the next bytes of a part; return a job once ~1 MiB of whole lines is ready (or at the end)."""
        if part.skip:
            dropped = min(part.skip, len(chunk))
            chunk, part.skip = chunk[dropped:], part.skip - dropped
        if chunk:
            part.pending.append(chunk)
            part.pending_size += len(chunk)
        if part.pending_size < self.JOB_BYTES and not final:
            return None
        data = b"".join(part.pending)
        part.pending, part.pending_size = [], 0
        lo = 0
        if part.head is None:
            first = data.find(b"\n")
            if first < 0:
                part.pending, part.pending_size = [data], len(data)
                return None
            part.head, lo = data[: first + 1], first + 1
        hi = data.rfind(b"\n") + 1
        if hi <= lo:
            part.pending, part.pending_size = ([data[lo:]], len(data) - lo) if lo < len(data) else ([], 0)
            return None
        if hi < len(data):
            part.pending, part.pending_size = [data[hi:]], len(data) - hi
        part.last_line = data[max(lo, data.rfind(b"\n", lo, hi - 1) + 1) : hi]
        part.jobs += 1
        return (part.index, part.jobs - 1, data, lo, hi)

    def close(self, part: PartResult) -> Job | None:
        """The part is complete: its last job (if any), and what remains becomes its tail."""
        job = self.feed(part, b"", final=True)
        remainder = b"".join(part.pending)
        if part.head is None:  # not one newline in the whole part: it only extends a line
            part.head, part.tail = remainder, b""
            part.jobs = -1
        else:
            part.tail = remainder
        part.pending, part.pending_size = [], 0
        part.closed = True
        return job

    def parse_job(self, job: Job) -> None:
        """Parse one job (thread-safe: each job writes only its own slot)."""
        assert self.layout is not None
        index, number, data, lo, hi = job
        part = self.parts[index]
        pieces, rows = [], 0
        try:
            for block_lo, block_hi in _blocks(data, lo, hi, BLOCK_BYTES):
                pieces.append(parse_block(data, block_lo, block_hi, self.layout.spec))
                rows += pieces[-1].shape[0]
        except RowProblem as problem:
            part.problems[number] = RowProblem(rows + problem.row_offset, problem.detail)
            return
        part.blocks[number] = _stack(pieces, self.layout.spec)

    def parse_part(self, index: int, data: bytes) -> None:
        """A whole part at once (tests, and callers that already hold the bytes)."""
        part = self.open_part(index)
        for job in (self.feed(part, data), self.close(part)):
            if job is not None:
                self.parse_job(job)

    def finish(self, n_parts: int) -> Record:
        """Stitch the parts in order, parse the cut lines, locate any bad row, derive fs."""
        layout = self.layout
        if layout is None or len(self.parts) != n_parts or not all(part.closed for part in self.parts.values()):
            raise RuntimeError("finish() needs every part closed")
        pieces: list[np.ndarray] = []
        line = layout.header_lines + 1
        carry = b""
        last_line = b""
        for index in range(n_parts):
            part = self.parts[index]
            if part.jobs < 0:
                carry += part.head or b""
                continue
            joined = carry + (part.head or b"")
            if joined.strip():
                pieces.append(self._parse_line(joined, line))
                line += 1
                last_line = joined
            for number in range(part.jobs):
                if number in part.problems:
                    raise part.problems[number].at_line(self.name, line)
                block = part.blocks[number]
                if block.shape[0]:
                    pieces.append(block)
                    line += block.shape[0]
                    last_line = part.last_line
            carry = part.tail
        if carry.strip():
            pieces.append(self._parse_line(carry.rstrip(b"\r\n") + b"\n", line))
            last_line = carry
        signals = _stack(pieces, layout.spec)
        if signals.shape[0] == 0:
            raise EmptyRecord(f"{self.name}: a header and no samples")
        last_line = last_line.rstrip(b"\r\n")
        rate = (
            self.fs
            if self.fs is not None
            else rate_from_lines(self.head_rows, last_line, layout, signals.shape[0], self.name)
        )
        return finish_record(signals, layout, rate, self.name)

    def _parse_line(self, line_bytes: bytes, line: int) -> np.ndarray:
        assert self.layout is not None
        try:
            return parse_block(line_bytes, 0, len(line_bytes), self.layout.spec)
        except RowProblem as problem:
            raise problem.at_line(self.name, line) from None
