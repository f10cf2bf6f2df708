"""Reading an ECG record from S3 fast: parallel ranged GETs, parsed as they arrive.

One HEAD gives the size and ETag (and refuses an object over ``max_bytes`` before any
download); then ranged GETs of ``part_size`` run ``concurrency`` at a time, each with
``If-Match: <etag>`` so an object overwritten mid-read fails clearly instead of mixing versions.
Each part is consumed *while it streams in*: its bytes are cut into jobs of whole lines (or
whole frames) and parsed on worker threads as soon as a job is complete, so network and CPU
overlap even when every part is in flight at once and the total approaches
max(download, parse) rather than their sum:

- text (CSV): jobs of ~1 MiB of whole lines; the line cut by each part boundary is stitched from
  its two fragments at the end (handlers.fhr.readers.text.PartAssembler);
- WFDB: the record's objects are resolved first (:mod:`handlers.storage.recordset`: the small
  ``.hea`` by one bounded GET while the usual ``.dat`` beside it is HEADed, then a HEAD of every
  other signal file the header names); a single signal file is then read in parts aligned to whole
  frames, each chunk decoded straight into its rows; several are read whole and decoded together;
- EDF: parts are gathered into one buffer and parsed at the end (rare here; no overlap).

A transient failure (5xx, throttling, reset, truncated body) is retried with jittered
exponential backoff; mid-body, the GET resumes from the first byte not yet received. Memory
stays bounded: a part holds its concurrency slot until it is parsed, so at most ``concurrency``
parts' bytes exist at once. The client is passed in (an aioboto3 S3 client), so tests use a
real one against a local moto server.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np

from handlers.fhr.record import Record
from handlers.storage.errors import ObjectChanged, ObjectTooLarge
from handlers.storage.recordset import RecordObjects, resolve_record
from handlers.storage.retry import RetryPolicy, with_retries

MIB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MIB
DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_BYTES = 512 * MIB
DEFAULT_RETRIES = 4
MIN_PART_SIZE = 64 * 1024  # the first part must hold a text file's header and first rows
DECODE_BYTES = 256 * 1024  # WFDB: decode once this many bytes of whole frames have arrived
STREAM_CHUNK = 256 * 1024  # read size within a part; the parser cuts ~1 MiB jobs of whole lines


@dataclass(frozen=True)
class ObjectInfo:
    """What was read: the object named by the caller, and for WFDB the signal file beside it."""

    bucket: str
    key: str
    size: int
    etag: str
    format: str
    data_key: str | None = None
    data_size: int | None = None
    data_etag: str | None = None


@dataclass
class Timings:
    """Wall-clock milliseconds; ``parse_ms`` is the summed time the parser worked (on threads)."""

    head_ms: float = 0.0
    download_ms: float = 0.0  # first GET issued -> last byte received
    parse_ms: float = 0.0
    finish_ms: float = 0.0  # after the last byte: stitching, last parse, validation
    total_ms: float = 0.0
    parts: int = 0
    bytes: int = 0
    retries: int = 0

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(value), 3) for name, value in asdict(self).items()}


@dataclass
class _Reader:
    """One read: the client, the retry policy and the clocks shared by its parts."""

    client: Any
    bucket: str
    part_size: int
    concurrency: int
    max_bytes: int
    policy: RetryPolicy
    timings: Timings = field(default_factory=Timings)
    first_get: float | None = None
    last_byte: float = 0.0

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    async def head(self, key: str) -> tuple[int, str]:
        started = time.perf_counter()
        response = await with_retries(
            lambda: self.client.head_object(Bucket=self.bucket, Key=key), self.policy, self.where(key)
        )
        self.timings.head_ms += (time.perf_counter() - started) * 1000
        return int(response["ContentLength"]), str(response["ETag"])

    async def get(self, key: str, etag: str, start: int | None = None, end: int | None = None) -> bytes:
        """One GET (ranged when ``start`` is given), retried as a whole, body included."""
        if self.first_get is None:
            self.first_get = time.perf_counter()
        expected = None if start is None or end is None else end - start + 1

        async def attempt() -> bytes:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "IfMatch": etag}
            if start is not None:
                kwargs["Range"] = f"bytes={start}-{end}"
            response = await self.client.get_object(**kwargs)
            async with response["Body"] as body:
                data = await body.read()
            if response.get("ETag") not in (None, etag):
                raise ObjectChanged(f"{self.where(key)}: the object changed while it was being read; read it again")
            if expected is not None and len(data) != expected:
                from botocore.exceptions import IncompleteReadError

                raise IncompleteReadError(actual_bytes=len(data), expected_bytes=expected)
            return data

        data = await with_retries(attempt, self.policy, self.where(key))
        self.last_byte = time.perf_counter()
        self.timings.bytes += len(data)
        return data

    def check_size(self, key: str, size: int) -> None:
        if size > self.max_bytes:
            raise ObjectTooLarge(f"{self.where(key)}: {size} bytes exceeds the {self.max_bytes}-byte limit")

    async def ranges(self, size: int, handler: Callable[[int, int, int], Awaitable[None]], offset: int = 0) -> int:
        """Run ``handler(index, start, end)`` for each part of ``[offset, size)``, ``concurrency`` at a
        time; a part keeps its slot until its handler is done, which bounds the bytes held."""
        starts = list(range(offset, size, self.part_size)) or [offset]
        slots = asyncio.Semaphore(self.concurrency)

        async def one(index: int, start: int) -> None:
            async with slots:
                await handler(index, start, min(size, start + self.part_size) - 1)

        tasks = [asyncio.create_task(one(index, start)) for index, start in enumerate(starts)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        self.timings.parts += len(starts)
        return len(starts)

    async def parts(
        self, key: str, etag: str, size: int, on_part: Callable[[int, int, bytes], Awaitable[None]], offset: int = 0
    ) -> int:
        """Fetch ``[offset, size)`` in ranged parts; ``on_part(index, start, data)`` gets each whole part."""

        async def whole(index: int, start: int, end: int) -> None:
            await on_part(index, start, await self.get(key, etag, start, end) if size else b"")

        return await self.ranges(size, whole, offset)

    async def stream(self, key: str, etag: str, start: int, end: int, sink: Callable[[bytes], Awaitable[None]]) -> None:
        """A ranged GET handed to ``sink`` chunk by chunk as it arrives; a transient failure mid-body
        resumes from the first byte not yet received, so the sink sees every byte exactly once."""
        from botocore.exceptions import IncompleteReadError

        if self.first_get is None:
            self.first_get = time.perf_counter()
        position = start

        async def attempt() -> None:
            nonlocal position
            response = await self.client.get_object(
                Bucket=self.bucket, Key=key, IfMatch=etag, Range=f"bytes={position}-{end}"
            )
            if response.get("ETag") not in (None, etag):
                raise ObjectChanged(f"{self.where(key)}: the object changed while it was being read; read it again")
            async with response["Body"] as http_response:  # the aiohttp response: read it as it arrives
                async for chunk in http_response.content.iter_chunked(STREAM_CHUNK):
                    position += len(chunk)
                    self.timings.bytes += len(chunk)
                    await sink(chunk)
            if position <= end:
                raise IncompleteReadError(actual_bytes=position - start, expected_bytes=end - start + 1)

        await with_retries(attempt, self.policy, self.where(key))
        self.last_byte = time.perf_counter()

    async def in_thread(self, work: Callable[[], Any]) -> Any:
        """Run CPU work on the parser's threads, timing it."""
        from handlers.fhr.readers.text import parse_executor

        def timed() -> Any:
            started = time.perf_counter()
            try:
                return work()
            finally:
                self.timings.parse_ms += (time.perf_counter() - started) * 1000

        return await asyncio.get_running_loop().run_in_executor(parse_executor(), timed)


async def read_record(
    s3_client: Any,
    bucket: str,
    key: str,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_bytes: int = DEFAULT_MAX_BYTES,
    retries: int = DEFAULT_RETRIES,
    fs: float | None = None,
    objects: RecordObjects | None = None,
) -> tuple[Record, ObjectInfo, dict[str, float]]:
    """Read and parse ``s3://bucket/key`` into a validated Record.

    ``objects``: the record's objects as :func:`~handlers.storage.recordset.resolve_record` found
    them (the API resolves first, to key its cache and check the size); without it they are
    resolved here. Every object is read with ``If-Match`` on the ETag resolved, so the record read
    is exactly the one resolved.

    Returns the record, what was read (ETag, size), and timings in ms (head, download, parse,
    finish, total). Storage failures raise handlers.storage.errors.StorageError subclasses; a
    bad record raises handlers.fhr.errors.RecordError subclasses, exactly as the file readers do.
    """
    if part_size < MIN_PART_SIZE:
        raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if objects is not None and objects.bucket != bucket:
        raise ValueError("objects were resolved in another bucket")
    started = time.perf_counter()
    reader = _Reader(s3_client, bucket, part_size, concurrency, max_bytes, RetryPolicy(retries=retries))
    if objects is None:
        objects = await resolve_record(s3_client, bucket, key, max_bytes=max_bytes, policy=reader.policy)
        reader.timings.head_ms += (time.perf_counter() - started) * 1000
    if objects.is_wfdb:
        record, info = await _read_wfdb(reader, objects)
    else:
        named = objects.named
        record, info = await _read_single(reader, named.key, named.size, named.etag, fs)
    from handlers.fhr.readers.validate import validate_record

    record = validate_record(record)
    timings = reader.timings
    timings.download_ms = ((reader.last_byte or started) - (reader.first_get or started)) * 1000
    timings.finish_ms = (time.perf_counter() - (reader.last_byte or started)) * 1000
    timings.total_ms = (time.perf_counter() - started) * 1000
    timings.retries = reader.policy.attempts_retried
    record.meta["etag"] = info.etag
    return record, info, timings.as_dict()


async def fetch_object(
    s3_client: Any,
    bucket: str,
    key: str,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_bytes: int = DEFAULT_MAX_BYTES,
    retries: int = DEFAULT_RETRIES,
) -> tuple[bytes, ObjectInfo, dict[str, float]]:
    """Download an object whole, by the same parallel ranged GETs, without parsing it.

    For callers that need the raw bytes (and for the benchmark's download-only yardstick).
    """
    if part_size < MIN_PART_SIZE:
        raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
    started = time.perf_counter()
    reader = _Reader(s3_client, bucket, part_size, concurrency, max_bytes, RetryPolicy(retries=retries))
    size, etag = await reader.head(key)
    reader.check_size(key, size)
    buffer = bytearray(size)

    async def on_part(index: int, start: int, data: bytes) -> None:
        buffer[start : start + len(data)] = data

    await reader.parts(key, etag, size, on_part)
    timings = reader.timings
    timings.download_ms = ((reader.last_byte or started) - (reader.first_get or started)) * 1000
    timings.total_ms = (time.perf_counter() - started) * 1000
    timings.retries = reader.policy.attempts_retried
    return bytes(buffer), ObjectInfo(bucket, key, size, etag, "bytes"), timings.as_dict()


async def _read_single(reader: _Reader, key: str, size: int, etag: str, fs: float | None) -> tuple[Record, ObjectInfo]:
    """A single-object format (CSV or EDF): every part is requested at once, and each part is parsed
    while it streams in (jobs of ~1 MiB of whole lines go to the parser threads as they complete).

    Part 0's first 64 KiB name the format and the layout; other parts wait for that inside their
    concurrency slot, which keeps memory bounded (part 0 is requested first, so the wait is short).
    EDF has no lines: its parts are gathered and parsed at the end.
    """
    from handlers.fhr.errors import EmptyRecord

    if size == 0:
        raise EmptyRecord(f"{reader.where(key)}: the object is empty")
    stream = _SingleObjectStream(reader, key, size, fs)
    n_parts = await reader.ranges(size, partial(stream.part, etag))
    info = ObjectInfo(bucket=reader.bucket, key=key, size=size, etag=etag, format=stream.format)
    return await reader.in_thread(partial(stream.finish, n_parts)), info


class _SingleObjectStream:
    """The state shared by the parts of one CSV or EDF object while they stream in."""

    SNIFF_BYTES = 64 * 1024

    def __init__(self, reader: _Reader, key: str, size: int, fs: float | None) -> None:
        self.reader, self.key, self.size, self.fs = reader, key, size, fs
        self.ready = asyncio.Event()
        self.format = ""
        self.assembler: Any = None
        self.buffer: bytearray | None = None

    def _start(self, first: bytes) -> None:
        """Name the format from the object's first bytes; for text, sniff the layout too."""
        from handlers.fhr.readers.detect import detect_format
        from handlers.fhr.readers.text import PartAssembler

        self.format = detect_format(self.key, first[:4096])
        if self.format == "edf":
            self.buffer = bytearray(self.size)
        else:
            source = self.reader.where(self.key)
            self.assembler = PartAssembler(source, physionet=(self.format == "physionet-csv"), fs=self.fs)
            self.assembler.take_layout(first)
        self.ready.set()

    async def part(self, etag: str, index: int, start: int, end: int) -> None:
        loop = asyncio.get_running_loop()
        jobs: list[asyncio.Future[Any]] = []
        early: list[bytes] = []  # part 0, until the format is known
        state: dict[str, Any] = {"offset": start, "part": None}

        def take(chunk: bytes) -> None:
            if self.buffer is not None:
                self.buffer[state["offset"] : state["offset"] + len(chunk)] = chunk
                state["offset"] += len(chunk)
                return
            if state["part"] is None:
                state["part"] = self.assembler.open_part(index)
            job = self.assembler.feed(state["part"], chunk)
            if job is not None:
                jobs.append(loop.run_in_executor(_parse_pool(), self._timed, job))

        async def sink(chunk: bytes) -> None:
            if index == 0 and not self.ready.is_set():
                early.append(chunk)
                if sum(map(len, early)) < self.SNIFF_BYTES:
                    return
                chunk = b"".join(early)
                early.clear()
                self._start(chunk)
            elif not self.ready.is_set():
                await self.ready.wait()
            take(chunk)

        await self.reader.stream(self.key, etag, start, end, sink)
        if early:  # part 0 shorter than the sniff window: the whole part names the format
            first = b"".join(early)
            self._start(first)
            take(first)
        if self.assembler is not None:
            if state["part"] is None:
                state["part"] = self.assembler.open_part(index)
            job = self.assembler.close(state["part"])
            if job is not None:
                jobs.append(loop.run_in_executor(_parse_pool(), self._timed, job))
        await asyncio.gather(*jobs)

    def _timed(self, job: Any) -> None:
        started = time.perf_counter()
        try:
            self.assembler.parse_job(job)
        finally:
            with _TIMING_LOCK:
                self.reader.timings.parse_ms += (time.perf_counter() - started) * 1000

    def finish(self, n_parts: int) -> Record:
        if self.buffer is not None:
            from handlers.fhr.readers.edf import read_edf

            return read_edf(bytes(self.buffer), self.reader.where(self.key))
        return self.assembler.finish(n_parts)


_TIMING_LOCK = threading.Lock()


def _timed_call(reader: _Reader, work: Callable[..., Any], *args: Any) -> Any:
    """Run parser work on a worker thread, adding its time to the read's parse total."""
    started = time.perf_counter()
    try:
        return work(*args)
    finally:
        with _TIMING_LOCK:
            reader.timings.parse_ms += (time.perf_counter() - started) * 1000


def _parse_pool() -> Any:
    from handlers.fhr.readers.text import parse_executor

    return parse_executor()


async def _read_wfdb(reader: _Reader, objects: RecordObjects) -> tuple[Record, ObjectInfo]:
    """One signal file: ranged parts of whole frames, decoded as they arrive; several: each read whole."""
    from handlers.fhr.readers.wfdb import stream_plan

    assert objects.header is not None
    header = objects.named
    source = reader.where(header.key)
    plan = stream_plan(objects.header, source)
    if plan is None:  # several signal files: read each whole, then decode
        return await _read_wfdb_files(reader, objects, source)
    (dat,) = objects.signal_files
    if objects.file_name(dat) != plan.file_name:  # cannot happen unless the two header parsers disagree
        from handlers.fhr.errors import CorruptRecord

        raise CorruptRecord(f"{source}: the header's signal file could not be resolved")
    signals = np.empty((plan.n_samples(dat.size), len(plan.kept)), dtype=np.float32)
    if signals.shape[0] == 0:
        from handlers.fhr.errors import EmptyRecord

        raise EmptyRecord(f"{source}: the signal file {dat.key} holds no samples")
    part_size = max(plan.unit_bytes, reader.part_size // plan.unit_bytes * plan.unit_bytes)
    reader.part_size = part_size  # whole frames per part, so each part decodes on its own

    loop = asyncio.get_running_loop()

    async def stream_part(index: int, start: int, end: int) -> None:
        """Decode whole frames as the chunks of this part arrive, each straight into its rows."""
        pending, offset = b"", start
        decoding: list[asyncio.Future[Any]] = []

        def decode(data: bytes, at: int) -> None:
            decoding.append(
                loop.run_in_executor(_parse_pool(), _timed_call, reader, plan.decode_into, data, at, signals)
            )

        async def sink(chunk: bytes) -> None:
            nonlocal pending, offset
            data = pending + chunk
            usable = len(data) // plan.unit_bytes * plan.unit_bytes
            if usable >= DECODE_BYTES:
                decode(data[:usable], offset)
                pending, offset = data[usable:], offset + usable
            else:
                pending = data

        await reader.stream(dat.key, dat.etag, start, end, sink)
        if pending:  # the part's last frames (and, at the file's end, any partial frame)
            decode(pending, offset)
        await asyncio.gather(*decoding)

    await reader.ranges(dat.size, stream_part, offset=plan.byte_offset)
    info = ObjectInfo(reader.bucket, header.key, header.size, header.etag, "wfdb", dat.key, dat.size, dat.etag)
    return plan.record(signals), info


async def _read_wfdb_files(reader: _Reader, objects: RecordObjects, source: str) -> tuple[Record, ObjectInfo]:
    from handlers.fhr.readers.wfdb import read_wfdb

    assert objects.header is not None
    contents = await asyncio.gather(*(reader.get(obj.key, obj.etag) for obj in objects.signal_files))
    files = {objects.file_name(obj): data for obj, data in zip(objects.signal_files, contents, strict=True)}
    record = await reader.in_thread(partial(read_wfdb, objects.header, files, source))
    header = objects.named
    return record, ObjectInfo(reader.bucket, header.key, header.size, header.etag, "wfdb")
