"""Resolving a record's objects once (real moto S3): what the cache key, size check, prediction and reader share.

The reader is then handed the resolved set and reads exactly it: a header naming ``other.dat`` is
read (and keyed) by other.dat, a record spread over ``rec_1.dat`` and ``rec_2.dat`` needs no
``rec.dat``, and a header naming a file outside its directory is refused before any request for it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from handlers.fhr.errors import RecordError
from handlers.fhr.readers import read_path
from handlers.storage.errors import (
    ObjectChanged,
    ObjectNotFound,
    ObjectTooLarge,
    SignalFileOutsideRecord,
    TooManySignalFiles,
)
from handlers.storage.recordset import MAX_SIGNAL_FILES, resolve_record, signal_file_keys
from handlers.storage.s3stream import read_record

LIMIT = 512 * 1024 * 1024


async def _put_all(s3, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    for name, body in files.items():
        await s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)


async def _put_set_a(s3, bucket: str, set_a_dir: Path, record: str, key_stem: str, dat_name: str | None = None):
    """A set-a record under ``key_stem``; its header names ``dat_name`` (default: the stem's .dat)."""
    name = dat_name or key_stem.rsplit("/", 1)[-1] + ".dat"
    header = (set_a_dir / f"{record}.hea").read_bytes().replace(f"{record}.dat".encode(), name.encode())
    directory = key_stem.rsplit("/", 1)[0] + "/" if "/" in key_stem else ""
    await s3.put_object(Bucket=bucket, Key=f"{key_stem}.hea", Body=header)
    await s3.put_object(Bucket=bucket, Key=directory + name, Body=(set_a_dir / f"{record}.dat").read_bytes())


async def test_a_usual_record_is_its_header_and_the_dat_beside_it(s3, bucket, set_a_dir: Path) -> None:
    await _put_set_a(s3, bucket, set_a_dir, "a01", "recs/a01")
    objects = await resolve_record(s3, bucket, "recs/a01.hea", max_bytes=LIMIT)
    assert [obj.key for obj in objects.objects] == ["recs/a01.hea", "recs/a01.dat"]
    assert objects.size == objects.named.size + 480_000 and objects.is_wfdb
    head = await s3.head_object(Bucket=bucket, Key="recs/a01.dat")
    assert objects.etags[1] == head["ETag"].strip('"')
    by_dat = await resolve_record(s3, bucket, "recs/a01.dat", max_bytes=LIMIT)  # named by its signal file
    assert by_dat == objects


async def test_a_single_object_record(s3, bucket) -> None:
    await s3.put_object(Bucket=bucket, Key="r.csv", Body=b"1,2\n" * 10)
    objects = await resolve_record(s3, bucket, "r.csv", max_bytes=LIMIT)
    assert not objects.is_wfdb and objects.objects == (objects.named,) and objects.size == 40


async def test_header_naming_another_file_is_resolved_and_read_by_that_file(s3, bucket, set_a_dir: Path) -> None:
    await _put_set_a(s3, bucket, set_a_dir, "a03", "other/rec", dat_name="signals.dat")
    await s3.put_object(Bucket=bucket, Key="other/rec.dat", Body=b"a decoy that must not be read")
    objects = await resolve_record(s3, bucket, "other/rec.hea", max_bytes=LIMIT)
    assert [obj.key for obj in objects.signal_files] == ["other/signals.dat"]
    record, info, _ = await read_record(s3, bucket, "other/rec.hea", objects=objects)
    assert info.data_key == "other/signals.dat"
    np.testing.assert_array_equal(record.signals, read_path(set_a_dir / "a03.hea").signals)
    await s3.put_object(Bucket=bucket, Key="other/signals.dat", Body=(set_a_dir / "a04.dat").read_bytes())
    changed = await resolve_record(s3, bucket, "other/rec.hea", max_bytes=LIMIT)
    assert changed.etags[0] == objects.etags[0] and changed.etags[1] != objects.etags[1]


async def test_multi_file_record_needs_no_file_named_like_its_header(s3, bucket, set_a_dir: Path, split_wfdb) -> None:
    await _put_all(s3, bucket, "multi/", split_wfdb("a05", "rec"))
    objects = await resolve_record(s3, bucket, "multi/rec.hea", max_bytes=LIMIT)
    assert [obj.key for obj in objects.signal_files] == ["multi/rec_1.dat", "multi/rec_2.dat"]
    assert objects.size == sum(obj.size for obj in objects.objects) and len(objects.etags) == 3
    record, _, _ = await read_record(s3, bucket, "multi/rec.hea", objects=objects)
    np.testing.assert_array_equal(record.signals, read_path(set_a_dir / "a05.hea").signals)
    alone, _, _ = await read_record(s3, bucket, "multi/rec.hea")  # resolving inside the reader gives the same
    np.testing.assert_array_equal(alone.signals, record.signals)


async def test_a_missing_signal_file_is_not_found_by_name(s3, bucket, split_wfdb) -> None:
    files = split_wfdb("a05", "gap")
    del files["gap_2.dat"]
    await _put_all(s3, bucket, "", files)
    with pytest.raises(ObjectNotFound, match="gap_2.dat"):
        await resolve_record(s3, bucket, "gap.hea", max_bytes=LIMIT)


async def test_the_size_limit_bounds_every_file_together(s3, bucket, split_wfdb) -> None:
    files = split_wfdb("a05", "big")
    await _put_all(s3, bucket, "", files)
    largest = max(len(body) for body in files.values())
    total = sum(len(body) for body in files.values())
    with pytest.raises(ObjectTooLarge, match=f"{total} bytes"):
        await resolve_record(s3, bucket, "big.hea", max_bytes=largest + 10)
    assert (await resolve_record(s3, bucket, "big.hea", max_bytes=total)).size == total


ESCAPES = [
    "../outside.dat",
    "sub/../../outside.dat",
    "/etc/outside.dat",
    "s3://another-bucket/outside.dat",
    "S3:another-bucket/outside.dat",
    "https://example.com/outside.dat",
    "~/outside.dat",
    "..\\outside.dat",
    "./here.dat",
    "a//b.dat",
    "-",
]


@pytest.mark.parametrize("name", ESCAPES)
async def test_signal_files_outside_the_records_directory_are_refused_unread(
    proxied_s3, proxy, s3, bucket, set_a_dir: Path, name: str
) -> None:
    header = (set_a_dir / "a01.hea").read_bytes().replace(b"a01.dat", name.encode())
    await s3.put_object(Bucket=bucket, Key="tenant/rec/a01.hea", Body=header)
    await s3.put_object(Bucket=bucket, Key="tenant/outside.dat", Body=(set_a_dir / "a01.dat").read_bytes())
    with pytest.raises(SignalFileOutsideRecord, match="header's own directory"):
        await resolve_record(proxied_s3, bucket, "tenant/rec/a01.hea", max_bytes=LIMIT)
    requested = [path for _, path, _ in proxy.log]
    assert all("outside" not in path and "here" not in path for path in requested), requested
    with pytest.raises(SignalFileOutsideRecord):
        await read_record(s3, bucket, "tenant/rec/a01.hea")


def test_signal_files_in_a_subdirectory_stay_inside() -> None:
    assert signal_file_keys("t/rec.hea", ["sub/rec.dat", "rec_2.dat"], "src") == ("t/sub/rec.dat", "t/rec_2.dat")
    assert signal_file_keys("rec.hea", ["rec.dat", "rec.dat"], "src") == ("rec.dat",)  # each file once
    with pytest.raises(SignalFileOutsideRecord, match="1024 bytes"):
        signal_file_keys("t/rec.hea", ["x" * 1100], "src")


async def test_too_many_signal_files_are_refused_before_any_head(s3, bucket) -> None:
    n = MAX_SIGNAL_FILES + 1
    lines = [f"many {n} 1000 100"] + [f"f{i}.dat 16 200/mV 16 0 0 0 0 ECG{i}" for i in range(n)]
    await s3.put_object(Bucket=bucket, Key="many.hea", Body="\n".join(lines).encode())
    with pytest.raises(TooManySignalFiles, match=f"{n} signal files"):
        await resolve_record(s3, bucket, "many.hea", max_bytes=LIMIT)


@pytest.mark.parametrize(
    "header",
    [
        b"",
        b"# only a comment\n",
        b"rec x 1000\n",
        "rec \u00b2 1000\n".encode(),
        "rec \u0661 1\n".encode(),
        b"rec/2 2 1000\n",
        b"rec 3 1000\nrec.dat 16\n",
        b"\xff\xfe\x00",
    ],
)
async def test_malformed_headers_are_record_errors(s3, bucket, header: bytes) -> None:
    await s3.put_object(Bucket=bucket, Key="bad.hea", Body=header)
    with pytest.raises(RecordError) as caught:
        await resolve_record(s3, bucket, "bad.hea", max_bytes=LIMIT)
    assert caught.value.code in ("corrupt_record", "unsupported_format", "empty_record")


async def test_a_signal_file_replaced_after_resolution_fails_the_read(s3, bucket, set_a_dir: Path, split_wfdb) -> None:
    await _put_all(s3, bucket, "moving/", split_wfdb("a05", "rec"))
    objects = await resolve_record(s3, bucket, "moving/rec.hea", max_bytes=LIMIT)
    await s3.put_object(Bucket=bucket, Key="moving/rec_2.dat", Body=(set_a_dir / "a06.dat").read_bytes()[:240_000])
    with pytest.raises(ObjectChanged):
        await read_record(s3, bucket, "moving/rec.hea", objects=objects)


def test_resolving_a_record_imports_no_numpy() -> None:
    """A cache hit resolves the record and nothing more: it must not pay numpy's import at a cold start."""
    code = "import sys, handlers.storage.recordset; assert 'numpy' not in sys.modules, 'numpy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
