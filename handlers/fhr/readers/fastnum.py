"""Vectorised parsing of delimited decimal text: the CSV readers' hot path.

WHY this exists: a 30-minute, 4-channel, 1 kHz CSV is ~67 MB and 7.2 million numbers; pandas'
C parser needs ~0.4 s for it, more than the whole estimate may cost. Here each field is parsed
with SWAR arithmetic (several digits per 64-bit integer operation) over numpy arrays:

1. one pass finds every delimiter and newline (``np.flatnonzero``), which also proves that every
   row has the same number of fields;
2. for each numeric field, the 8 bytes ending at its delimiter are read as one little-endian
   ``uint64`` (an unaligned, stride-1 view of the buffer), the sign and decimal point are masked
   out, and the 8 ASCII digits become an integer with three multiply-shift steps
   (D. Lemire, "Fast float parsing in practice", 2021);
3. every byte that should be a digit is checked to be one, so a malformed block is never
   misread: it goes to :func:`parse_block_generic`, which handles any float syntax (and pinpoints
   text in a numeric column or a ragged row for the error message).

Blocks are ~1 MiB of whole lines, so the temporary arrays stay in cache and two blocks can be
parsed on two threads (numpy releases the GIL inside each operation).

When the native parser is built (:mod:`handlers.fhr.readers.native`, ``csvparse.c``), blocks go to it
first: one pass over the bytes, ~4x faster, the same float32 bits; whatever it does not take (odd
fields, malformed rows) comes back here unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handlers.fhr.errors import CorruptRecord
from handlers.fhr.readers.native import parser as native_parser

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_ZEROS = np.uint64(0x3030303030303030)
_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_SIXES = np.uint64(0x0606060606060606)
_PAIR_MASK = np.uint64(0x000000FF000000FF)
_MUL1 = np.uint64(100 + (1_000_000 << 32))
_MUL2 = np.uint64(1 + (10_000 << 32))
_MINUS = 45
_NEWLINE = 10
_CR = 13
MAX_FAST_FIELD = 8  # bytes per field the 64-bit path covers, sign and decimal point included


@dataclass(frozen=True)
class BlockSpec:
    """How one file's rows are laid out, as far as the numeric parser needs to know."""

    delimiter: int  # byte value: 44 ',', 59 ';', 9 tab
    decimal: int  # byte value of the decimal mark: 46 '.', or 44 ',' with ';' or tab delimiters
    n_fields: int  # fields per row, all columns counted
    value_columns: tuple[int, ...]  # the columns to return, in order
    scales: tuple[float, ...]  # multiply each value column by this (to microvolts)
    crlf: bool  # lines end in "\r\n"
    decimals: tuple[int, ...] | None = None  # per value column, when the first rows agree (a speed hint)
    invalid_marks: tuple[bytes, ...] = (b"-", b"")  # fields meaning "no sample here" -> NaN


class RowProblem(CorruptRecord):
    """A malformed row, located relative to its block; callers turn it into an absolute line number.

    WHY relative: the line number of a block costs a pass over everything before it, and with
    parallel or streamed parsing those bytes may still be on their way; so only a failing block
    pays for it, once its predecessors are known.
    """

    def __init__(self, row_offset: int, detail: str) -> None:
        super().__init__(f"row {row_offset + 1} of a block{detail}")
        self.row_offset = row_offset
        self.detail = detail

    def at_line(self, source: str, first_line: int) -> CorruptRecord:
        """The error to show: ``first_line`` is the 1-based line number of the block's first row."""
        return CorruptRecord(f"{source}: line {first_line + self.row_offset}{self.detail}")


def parse_block(buffer: bytes | bytearray | memoryview, lo: int, hi: int, spec: BlockSpec) -> np.ndarray:
    """Parse whole lines ``buffer[lo:hi]`` (``hi`` just past a newline) into float32 (rows, values).

    Raises :class:`RowProblem` for a ragged row or text in a numeric column.
    """
    native = native_parser()
    if native is not None and isinstance(buffer, bytes):
        out = np.empty((native.count_lines(buffer, lo, hi), len(spec.value_columns)), dtype=np.float32)
        if native.parse_into(buffer, lo, hi, spec, out) == out.shape[0]:
            return out
    return parse_block_numpy(buffer, lo, hi, spec)


def parse_block_into(buffer: bytes, lo: int, hi: int, spec: BlockSpec, out: np.ndarray) -> None:
    """:func:`parse_block` straight into ``out``, which has exactly one row per line of the block."""
    native = native_parser()
    if native is None or native.parse_into(buffer, lo, hi, spec, out) != out.shape[0]:
        out[...] = parse_block_numpy(buffer, lo, hi, spec)


def parse_block_numpy(buffer: bytes | bytearray | memoryview, lo: int, hi: int, spec: BlockSpec) -> np.ndarray:
    """:func:`parse_block` on numpy alone (the SWAR path, then the slower ones for what it cannot take)."""
    if lo < 8 < hi:  # the 64-bit path reads 8 bytes before each delimiter: start it on a later line
        cut = bytes(buffer[lo:hi]).find(b"\n") + lo + 1
        if cut < hi:
            head = parse_block_generic(bytes(buffer[lo:cut]), spec)
            try:
                rest = parse_block_numpy(buffer, cut, hi, spec)
            except RowProblem as problem:
                raise RowProblem(problem.row_offset + head.shape[0], problem.detail) from None
            return np.concatenate([head, rest])
    if lo >= 8:
        fast = _parse_block_fast(buffer, lo, hi, spec)
        if fast is not None:
            return fast
    return parse_block_generic(bytes(buffer[lo:hi]), spec)


def _parse_block_fast(buffer: bytes | bytearray | memoryview, lo: int, hi: int, spec: BlockSpec) -> np.ndarray | None:
    """The SWAR path; None when any field does not fit it (the caller then takes the generic path)."""
    raw = np.frombuffer(buffer, dtype=np.uint8)
    segment = raw[lo:hi]
    newlines = segment == _NEWLINE
    n_rows = int(np.count_nonzero(newlines))
    positions = np.flatnonzero(newlines | (segment == spec.delimiter))
    if n_rows == 0 or positions.size != n_rows * spec.n_fields:
        return None
    positions += lo
    grid = positions.reshape(n_rows, spec.n_fields)
    if not np.all(raw[grid[:, -1]] == _NEWLINE):
        return None
    newline_at = grid[:, -1].copy()
    if spec.crlf:
        if not np.all(raw[newline_at - 1] == _CR):
            return None
        grid[:, -1] -= 1
    # Work column by column, (k, rows): numpy's inner loops then run over thousands of rows, not k values.
    columns = np.asarray(spec.value_columns)
    by_column = grid.T
    ends = by_column[columns]
    # A field starts after the previous field's delimiter; the first field after the previous newline.
    if columns.min() > 0:
        return _finish_fast(raw, buffer, ends, by_column[columns - 1], spec)
    before = np.empty((spec.n_fields + 1, n_rows), dtype=grid.dtype)
    before[0, 0] = lo - 1
    before[0, 1:] = newline_at[:-1]
    before[1:] = by_column
    return _finish_fast(raw, buffer, ends, before[columns], spec)


def _finish_fast(
    raw: np.ndarray, buffer: bytes | bytearray | memoryview, ends: np.ndarray, previous: np.ndarray, spec: BlockSpec
) -> np.ndarray | None:
    lengths = ends - previous - 1
    words = np.ndarray(shape=(raw.size - 7,), dtype="<u8", buffer=buffer, strides=(1,))[ends - 8]
    negative = raw[previous + 1] == _MINUS
    expected = _decimal_slots(spec.decimals)
    mantissas, inverse_powers, bad, missing = _swar_decimals(words, lengths, negative, spec.decimal, expected)
    if expected is not None and bad.any():  # decimals vary after all: find the mark in every field
        mantissas, inverse_powers, bad, missing = _swar_decimals(words, lengths, negative, spec.decimal, None)
    scales = np.asarray(spec.scales, dtype=np.float64)[:, None]
    factor = np.where(negative, -scales, scales) * inverse_powers
    values = (mantissas * factor).astype(np.float32)
    if missing.any():
        values[missing] = np.nan
    if bad.any() and not _patch_odd_fields(raw, previous + 1, ends, bad, spec, values):
        return None
    return values.T


_MAX_ODD_FIELD = 40
_QUOTES = (34, 39)  # '"' and "'": spreadsheet exports quote numbers


def _patch_odd_fields(
    raw: np.ndarray, starts: np.ndarray, ends: np.ndarray, bad: np.ndarray, spec: BlockSpec, values: np.ndarray
) -> bool:
    """Parse the fields the 64-bit path could not (exponents, long or quoted fields) with numpy's
    float parser, vectorised over fixed-width byte strings.

    Writers that print the shortest round-trip form mix ``-0.0007`` with ``-1e-04``; parsing only
    those fields this way keeps the rest fast, and a file made only of such fields still avoids
    the per-line Python path. False sends the block to that path: a field wider than 40 bytes, or
    one that is not a number (whose precise error the generic path words). Infinities become NaN.
    """
    column, row = np.nonzero(bad)
    first, last = starts[column, row], ends[column, row]
    width = int((last - first).max())
    if width > _MAX_ODD_FIELD:
        return False
    offsets = first[:, None] + np.arange(width)
    chars = raw[np.minimum(offsets, raw.size - 1)]
    chars[offsets >= last[:, None]] = 0  # NUL padding: numpy's fixed-width bytes strings ignore it
    for quote in _QUOTES:
        chars[chars == quote] = 32  # blanks around a number are fine for the float parser
    if spec.decimal != 46:
        chars[chars == spec.decimal] = 46
    try:
        parsed = np.ascontiguousarray(chars).view(f"S{width}").ravel().astype(np.float64)
    except ValueError:
        return False
    parsed[~np.isfinite(parsed)] = np.nan
    values[column, row] = (parsed * np.asarray(spec.scales, dtype=np.float64)[column]).astype(np.float32)
    return True


# Tables indexed by the decimal mark's slot: 0 = no mark, else 1 + its byte p in the 64-bit word
# (byte 7 = the field's last character). The integer digits sit below the mark, the fraction above
# it; removing the mark shifts the integer digits up one byte, so all digits end up contiguous.
# Two marks in one field give a slot above 8: its masks are zero, so the digit check fails it.
_UNUSED_SLOTS = 256 - 9
_INTEGER_MASK = np.array([(1 << 64) - 1] + [(1 << (8 * p)) - 1 for p in range(8)] + [0] * _UNUSED_SLOTS, np.uint64)
_FRACTION_MASK = np.array(
    [0] + [((1 << 64) - 1) ^ ((1 << (8 * (p + 1))) - 1) for p in range(8)] + [0] * _UNUSED_SLOTS, np.uint64
)
_INTEGER_SHIFT = np.array([0] + [8] * 8 + [0] * _UNUSED_SLOTS, dtype=np.uint64)
_INVERSE_POWERS = np.array([1.0] + [10.0 ** -(7 - p) for p in range(8)] + [1.0] * _UNUSED_SLOTS, np.float64)
_ONES = np.uint64(0x0101010101010101)
_HIGH_BITS = np.uint64(0x8080808080808080)
# The top n bytes of a word, n = 0..8; indexes 9..15 (too long, or a negative count wrapped by & 15)
# give all bytes, and such fields are marked bad separately.
_TOP_BYTES = np.array([((1 << 64) - 1) ^ ((1 << (8 * (8 - n))) - 1) for n in range(9)] + [(1 << 64) - 1] * 7, np.uint64)
_ZERO_DIGITS = _ZEROS & _TOP_BYTES  # '0' in each of the top n bytes: subtracting it leaves digit values
# (1 << 8p) * _SLOT_MULTIPLIER has p + 1 in its top byte: a branch-free "which byte" for one set byte.
_SLOT_MULTIPLIER = np.uint64(0x0102030405060708)


def _decimal_slots(decimals: tuple[int, ...] | None) -> np.ndarray | None:
    """The per-column slot the sniffer expects (k, 1), or None to find the mark in every field."""
    if decimals is None:
        return None
    return np.array([8 - q if q else 0 for q in decimals], dtype=np.uint64)[:, None]


def _swar_decimals(
    words: np.ndarray, lengths: np.ndarray, negative: np.ndarray, decimal: int, expected: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Right-aligned decimal fields -> (unsigned mantissas as float64, 10^-decimals, bad, missing).

    With ``expected`` slots (each column always printed with the same number of decimals, the
    common case) the mark is only checked where expected; without, it is found in every field (a
    zero-byte test on ``word XOR mark``), so a column may mix ``0.1``, ``-12.25`` and ``7``, at
    about a quarter more cost. Anything else that is not a digit marks the field bad. Masks come
    from small tables and operations work in place: each pass over the block costs time.
    """
    unsigned = lengths - negative  # characters without the sign; 0 for "" and "-" (no sample)
    missing = unsigned == 0
    # The number without its sign occupies the top `unsigned` bytes of the word.
    body = words & _TOP_BYTES[unsigned & 15]
    if expected is None:
        marks = body ^ (np.uint64(decimal) * _ONES)
        mark_bit = (marks - _ONES) & ~marks & _HIGH_BITS & _TOP_BYTES[lengths & 15]
        slot = ((mark_bit >> np.uint64(7)) * _SLOT_MULTIPLIER) >> np.uint64(56)
        misplaced = None
    else:
        slot = expected
        has_mark = expected != 0
        mark_byte = (words >> (np.uint64(8) * (expected - has_mark.astype(np.uint64)))) & np.uint64(0xFF)
        misplaced = mark_byte != np.uint64(decimal)
        if not has_mark.all():
            misplaced &= has_mark
    integer = body & _INTEGER_MASK[slot]
    integer <<= _INTEGER_SHIFT[slot]
    body &= _FRACTION_MASK[slot]
    body |= integer
    n_digits = unsigned - (slot != 0)
    bad = n_digits < 1
    bad |= lengths > MAX_FAST_FIELD
    if misplaced is not None:
        bad |= misplaced
    body -= _ZERO_DIGITS[n_digits & 15]
    check = body + _SIXES
    check |= body
    check &= _HIGH_NIBBLES
    bad |= check != 0
    bad &= ~missing
    # Lemire's eight-digit conversion: pairs, then quads, then all eight (most significant byte first).
    shifted = body >> np.uint64(8)
    body *= np.uint64(10)
    body += shifted
    high = body >> np.uint64(16)
    high &= _PAIR_MASK
    high *= _MUL2
    body &= _PAIR_MASK
    body *= _MUL1
    body += high
    body >>= np.uint64(32)
    return body.astype(np.float64), _INVERSE_POWERS[slot], bad, missing


def parse_block_generic(text: bytes, spec: BlockSpec) -> np.ndarray:
    """Any float syntax, quoted fields, irregular decimals; slower, and precise about what is wrong."""
    delimiter = bytes([spec.delimiter])
    lines = text.replace(b"\r", b"").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    fields = [line.split(delimiter) for line in lines]
    for offset, row in enumerate(fields):
        if len(row) != spec.n_fields:
            raise RowProblem(offset, f": {len(row)} fields where the header has {spec.n_fields} (ragged rows)")
    out = np.empty((len(fields), len(spec.value_columns)), dtype=np.float32)
    for index, column in enumerate(spec.value_columns):
        tokens = [row[column].strip().strip(b"'\"") for row in fields]
        out[:, index] = _tokens_to_float(tokens, spec, column) * spec.scales[index]
    return out


def _tokens_to_float(tokens: list[bytes], spec: BlockSpec, column: int) -> np.ndarray:
    cleaned = [b"nan" if token in spec.invalid_marks else token for token in tokens]
    if spec.decimal != 46:
        cleaned = [token.replace(bytes([spec.decimal]), b".") for token in cleaned]
    try:
        return np.array(cleaned, dtype=np.bytes_).astype(np.float64)
    except ValueError:
        for offset, token in enumerate(cleaned):
            try:
                float(token)
            except ValueError:
                text = token[:40].decode("utf-8", errors="replace")
                raise RowProblem(
                    offset, f", column {column + 1}: {text!r} is not a number (text in a numeric column)"
                ) from None
        raise
