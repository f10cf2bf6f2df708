"""Which S3 objects make up a record, resolved once and used by every consumer.

A CSV or EDF record is one object. A WFDB record is its header (``.hea``) and every signal file the
header names: usually ``<name>.dat`` beside it, but a header may name ``other.dat``, or spread its
signals over ``rec_1.dat`` and ``rec_2.dat``. The cache key (every object's ETag), the size limit
(their total), the time prediction (the same total) and the reader (each file read with
``If-Match`` on the ETag resolved here) all take the one :class:`RecordObjects` that
:func:`handlers.storage.s3stream.resolve_record` returns, so what is checked and keyed is exactly
what is read: a changed ``other.dat`` changes the key, and a file replaced after resolution fails
the read (``object_changed``) instead of being mixed in.

Signal file names are the uploader's text: :func:`signal_file_keys` refuses any that would leave the
record's directory (``../``, an absolute path, a URL naming another bucket, a backslash), so a header
can never point the service at an object its caller could not name directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from handlers.storage.errors import ObjectTooLarge, SignalFileOutsideRecord, TooManySignalFiles
from handlers.storage.retry import RetryPolicy, with_retries

# PhysioNet ECG records use one signal file, a few at most; each file costs a HEAD and a GET.
MAX_SIGNAL_FILES = 16
MAX_KEY_BYTES = 1024  # S3's own limit on an object key
MAX_HEADER_BYTES = 1024 * 1024  # a WFDB header is text of a few hundred bytes


@dataclass(frozen=True)
class StoredObject:
    """One object as S3 described it when the record was resolved."""

    key: str
    size: int
    etag: str  # as S3 sends it, quotes included (what If-Match takes)


@dataclass(frozen=True)
class RecordObjects:
    """The objects a record is made of: the one the caller named and, for WFDB, its signal files."""

    bucket: str
    named: StoredObject  # the header, or the single-object record
    signal_files: tuple[StoredObject, ...] = ()  # WFDB: every file the header names, in header order
    header: bytes | None = None  # WFDB: the header's bytes, read while resolving (not read again)

    @property
    def is_wfdb(self) -> bool:
        return self.header is not None

    @property
    def objects(self) -> tuple[StoredObject, ...]:
        return (self.named, *self.signal_files)

    @property
    def size(self) -> int:
        """Bytes of every object: what the size limit bounds and the time prediction reads."""
        return sum(obj.size for obj in self.objects)

    @property
    def etags(self) -> tuple[str, ...]:
        """Every object's ETag (unquoted), the named object's first: the record's identity for the cache."""
        return tuple(obj.etag.strip('"') for obj in self.objects)

    def file_name(self, obj: StoredObject) -> str:
        """A signal file's name as its header writes it (its key relative to the header's directory)."""
        return obj.key[len(directory_of(self.named.key)) :]


def directory_of(key: str) -> str:
    """The key's directory prefix, ``/`` included (``""`` at the bucket's root)."""
    return key.rsplit("/", 1)[0] + "/" if "/" in key else ""


def signal_file_keys(header_key: str, file_names: Iterable[str], source: str) -> tuple[str, ...]:
    """The object keys of a header's signal files (each name once, in order), all inside its directory."""
    names = list(dict.fromkeys(file_names))
    if len(names) > MAX_SIGNAL_FILES:
        raise TooManySignalFiles(
            f"{source}: the header names {len(names)} signal files; a record may have at most {MAX_SIGNAL_FILES}"
        )
    directory = directory_of(header_key)
    keys = []
    for name in names:
        problem = _escape_problem(name)
        if problem is None and len((directory + name).encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            problem = f"its key would exceed {MAX_KEY_BYTES} bytes"
        if problem is not None:
            raise SignalFileOutsideRecord(
                f"{source}: the header names the signal file {name[:80]!r}, which {problem}; "
                "a signal file must sit in the header's own directory"
            )
        keys.append(directory + name)
    return tuple(keys)


def _escape_problem(name: str) -> str | None:
    """Why following ``name`` from the header's directory would not stay inside it, else ``None``."""
    if not name or name == "-":
        return "is not a file (WFDB's '-' means standard input)"
    if "://" in name or name.lower().startswith("s3:"):
        return "is a URL (another bucket or host)"
    if name.startswith(("/", "~")):
        return "is an absolute path"
    if "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "holds a backslash or a control character"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "climbs out of (or around in) the directory with '..', '.' or '//'"
    return None


async def resolve_record(
    client: Any, bucket: str, key: str, *, max_bytes: int, policy: RetryPolicy | None = None
) -> RecordObjects:
    """The objects ``s3://bucket/key`` is made of, with their sizes and ETags, their total within ``max_bytes``.

    A WFDB record may be named by its ``.hea`` or its ``.dat``. The header is read by one bounded GET
    while the usual ``<name>.dat`` beside it is HEADed (one round trip for the common record), then
    every other file it names is HEADed. Numpy-free on purpose: a cache hit needs nothing more.
    Raises ObjectNotFound (a missing header or signal file), ObjectTooLarge (over ``max_bytes``),
    SignalFileOutsideRecord / TooManySignalFiles, and the readers' CorruptRecord / UnsupportedFormat
    for a header that is not one.
    """
    s3 = _Objects(client, bucket, max_bytes, policy or RetryPolicy())
    if key.lower().endswith(".dat"):  # a WFDB signal file: its header beside it says how to read it
        key = key[:-4] + ".hea"
    if not key.lower().endswith(".hea"):
        return RecordObjects(bucket, s3.within_limit(await s3.head(key)))
    guessed_key = key[:-4] + ".dat"
    guessed = asyncio.create_task(s3.head(guessed_key))
    try:
        header_bytes, header = await s3.get_header(key)
        keys = signal_file_keys(key, signal_file_names(header_bytes, s3.where(key)), s3.where(key))
        if guessed_key not in keys:
            await _discard(guessed)
        files = await asyncio.gather(*(guessed if k == guessed_key else s3.head(k) for k in keys))
    except BaseException:
        await _discard(guessed)
        raise
    objects = RecordObjects(bucket, header, tuple(files), header_bytes)
    s3.within_limit(StoredObject(key, objects.size, ""))
    return objects


@dataclass
class _Objects:
    """HEADs and the bounded header GET of one resolution, retried on transient failures."""

    client: Any
    bucket: str
    max_bytes: int
    policy: RetryPolicy

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def within_limit(self, obj: StoredObject) -> StoredObject:
        if obj.size > self.max_bytes:
            raise ObjectTooLarge(f"{self.where(obj.key)}: {obj.size} bytes exceeds the {self.max_bytes}-byte limit")
        return obj

    async def head(self, key: str) -> StoredObject:
        response = await with_retries(
            lambda: self.client.head_object(Bucket=self.bucket, Key=key), self.policy, self.where(key)
        )
        return StoredObject(key, int(response["ContentLength"]), str(response["ETag"]))

    async def get_header(self, key: str) -> tuple[bytes, StoredObject]:
        """A WFDB header by one GET ranged to MAX_HEADER_BYTES: a huge object under a .hea name is refused,
        not downloaded."""

        async def attempt() -> tuple[bytes, StoredObject]:
            try:
                response = await self.client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes=0-{MAX_HEADER_BYTES - 1}"
                )
            except Exception as exc:
                if _status(exc) == 416:  # no byte 0: the object is empty (not "changed", as 416 usually means)
                    from handlers.fhr.errors import EmptyRecord

                    raise EmptyRecord(f"{self.where(key)}: the WFDB header is empty") from None
                raise
            async with response["Body"] as body:
                data = await body.read()
            content_range = str(response.get("ContentRange") or "")
            total = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else len(data)
            return data, StoredObject(key, total, str(response["ETag"]))

        data, header = await with_retries(attempt, self.policy, self.where(key))
        self.within_limit(header)
        if header.size > MAX_HEADER_BYTES:
            raise ObjectTooLarge(f"{self.where(key)}: a WFDB header of {header.size} bytes (limit {MAX_HEADER_BYTES})")
        return data, header


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") if isinstance(response, dict) else None


async def _discard(task: asyncio.Task[Any]) -> None:
    """Cancel a speculative request and swallow its outcome (a guessed file that does not exist)."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def signal_file_names(header_bytes: bytes, source: str) -> list[str]:
    """The signal file of each signal line, as :func:`handlers.fhr.readers.wfdb.parse_header` reads them.

    Only the record line's signal count and each signal line's first field: the reader parses the
    rest, and reads nothing but the files resolved here (a disagreement is a corrupt record).
    Kept apart from the readers so that resolving a record never imports numpy.
    """
    from handlers.fhr.errors import CorruptRecord, UnsupportedFormat

    try:
        text = header_bytes.decode("ascii")
    except UnicodeDecodeError:
        try:
            text = header_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptRecord(f"{source}: WFDB header is not text") from None
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise CorruptRecord(f"{source}: WFDB header is empty")
    fields = lines[0].split()
    if len(fields) < 2 or not (fields[1].isascii() and fields[1].isdigit()):  # int() also takes '²', '١'...
        raise CorruptRecord(f"{source}: WFDB record line {lines[0][:80]!r} lacks a signal count")
    if "/" in fields[0]:
        raise UnsupportedFormat(f"{source}: multi-segment WFDB records are not supported")
    n_signals = int(fields[1])
    if len(lines) < 1 + n_signals:
        raise CorruptRecord(f"{source}: header announces {n_signals} signals but describes {len(lines) - 1}")
    return [line.split(maxsplit=1)[0] for line in lines[1 : 1 + n_signals]]
