"""read_record against a real moto S3 server: formats, parts, limits, missing objects, retries, ETag changes."""

from __future__ import annotations

from pathlib import Path

import edfio
import numpy as np
import pytest
import wfdb

from handlers.fhr.errors import CorruptRecord, RecordError
from handlers.fhr.readers import read_bytes, read_path
from handlers.storage.errors import (
    ObjectChanged,
    ObjectNotFound,
    ObjectTooLarge,
    StorageError,
    StorageUnavailable,
)
from handlers.storage.s3stream import read_record

SMALL_PART = 64 * 1024


async def _put(s3, bucket: str, key: str, body: bytes) -> None:
    await s3.put_object(Bucket=bucket, Key=key, Body=body)


async def test_physionet_csv_in_many_parts_equals_the_file_reader(s3, bucket, physionet_csv) -> None:
    data, _ = physionet_csv(seconds=20, fs=1000, channels=4, invalid=((7, 1),))
    await _put(s3, bucket, "uploads/rec.csv", data)
    record, info, timings = await read_record(s3, bucket, "uploads/rec.csv", part_size=SMALL_PART, concurrency=3)
    expected = read_bytes(data, "rec.csv")
    np.testing.assert_array_equal(record.signals, expected.signals)
    assert (record.fs, record.channels, record.format) == (1000.0, expected.channels, "physionet-csv")
    assert info.size == len(data) and info.etag.strip('"') and info.format == "physionet-csv"
    assert record.meta["etag"] == info.etag
    assert timings["parts"] == -(-len(data) // SMALL_PART)
    assert timings["bytes"] == len(data)
    assert set(timings) >= {"head_ms", "download_ms", "parse_ms", "finish_ms", "total_ms", "retries"}


async def test_single_part_object(s3, bucket, physionet_csv) -> None:
    data, _ = physionet_csv(seconds=11, fs=250, channels=1)
    await _put(s3, bucket, "one.csv", data)
    record, _, timings = await read_record(s3, bucket, "one.csv")
    np.testing.assert_array_equal(record.signals, read_bytes(data, "one.csv").signals)
    assert timings["parts"] == 1


async def test_wfdb_header_and_dat_by_ranges(s3, bucket, set_a_dir: Path) -> None:
    for suffix in (".hea", ".dat"):
        await _put(s3, bucket, f"set-a/a07{suffix}", (set_a_dir / f"a07{suffix}").read_bytes())
    record, info, timings = await read_record(s3, bucket, "set-a/a07.hea", part_size=SMALL_PART, concurrency=4)
    np.testing.assert_array_equal(record.signals, read_path(set_a_dir / "a07.hea").signals)
    assert info.data_key == "set-a/a07.dat" and info.data_size == 480_000
    assert timings["parts"] == -(-480_000 // SMALL_PART)  # 64 KiB is a whole number of 8-byte frames


async def test_wfdb_named_by_its_dat(s3, bucket, set_a_dir: Path) -> None:
    for suffix in (".hea", ".dat"):
        await _put(s3, bucket, f"a02{suffix}", (set_a_dir / f"a02{suffix}").read_bytes())
    record, info, _ = await read_record(s3, bucket, "a02.dat")
    assert info.key == "a02.hea" and info.data_key == "a02.dat"
    np.testing.assert_array_equal(record.signals, read_path(set_a_dir / "a02.hea").signals)


async def test_wfdb_signal_file_named_differently_from_the_header(s3, bucket, set_a_dir: Path) -> None:
    header = (set_a_dir / "a03.hea").read_bytes().replace(b"a03.dat", b"signals.dat")
    await _put(s3, bucket, "records/a03.hea", header)
    await _put(s3, bucket, "records/signals.dat", (set_a_dir / "a03.dat").read_bytes())
    record, info, _ = await read_record(s3, bucket, "records/a03.hea", part_size=SMALL_PART)
    assert info.data_key == "records/signals.dat"
    np.testing.assert_array_equal(record.signals, read_path(set_a_dir / "a03.hea").signals)


async def test_huge_object_named_hea_is_not_downloaded(s3, bucket) -> None:
    await _put(s3, bucket, "huge.hea", b"#" * (2 * 1024 * 1024))
    with pytest.raises(ObjectTooLarge, match="WFDB header"):
        await read_record(s3, bucket, "huge.hea")


async def test_wfdb_format_212_parts_align_on_frame_pairs(s3, bucket, tmp_path: Path, set_a_dir: Path) -> None:
    digital = wfdb.rdrecord(str(set_a_dir / "a11"), physical=False).d_signal[:, :3] // 16
    wfdb.wrsamp(
        "r212",
        fs=1000,
        units=["uV"] * 3,
        sig_name=["A", "B", "C"],
        d_signal=np.clip(digital, -2047, 2047).astype(np.int16),
        fmt=["212"] * 3,
        adc_gain=[0.625] * 3,
        baseline=[0] * 3,
        write_dir=str(tmp_path),
    )
    for suffix in (".hea", ".dat"):
        await _put(s3, bucket, f"r212{suffix}", (tmp_path / f"r212{suffix}").read_bytes())
    record, _, _ = await read_record(s3, bucket, "r212.hea", part_size=SMALL_PART + 5)
    np.testing.assert_array_equal(record.signals, read_path(tmp_path / "r212.hea").signals)


async def test_wfdb_byte_offset_and_empty_signal_file(s3, bucket) -> None:
    samples = np.random.default_rng(4).integers(-3000, 3000, size=(20_000, 2), dtype=np.int16)
    samples[7, 1] = -32768
    header = b"off 2 500 20000\noff.dat 16+24 200/mV 16 0 0 0 0 ECG1\noff.dat 16+24 50(10)/uV 16 0 0 0 0 ECG2\n"
    await _put(s3, bucket, "off.hea", header)
    await _put(s3, bucket, "off.dat", b"#" * 24 + samples.astype("<i2").tobytes())
    record, _, _ = await read_record(s3, bucket, "off.hea", part_size=SMALL_PART)
    expected = np.column_stack([samples[:, 0] / 200.0 * 1000.0, (samples[:, 1] - 10) / 50.0])
    expected[7, 1] = np.nan
    np.testing.assert_allclose(record.signals, expected, rtol=1e-6, atol=1e-4)
    assert np.isnan(record.signals[7, 1])
    await _put(
        s3, bucket, "none.hea", header.replace(b"off 2 500 20000", b"none 2 500").replace(b"off.dat", b"none.dat")
    )
    await _put(s3, bucket, "none.dat", b"#" * 24)
    with pytest.raises(RecordError, match="no samples"):
        await read_record(s3, bucket, "none.hea")


async def test_edf_object(s3, bucket, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    signal = edfio.EdfSignal(rng.normal(0, 100, 500 * 30), 500, label="Abd", physical_dimension="uV")
    edfio.Edf([signal]).write(tmp_path / "r.edf")
    data = (tmp_path / "r.edf").read_bytes()
    await _put(s3, bucket, "r.edf", data)
    record, info, _ = await read_record(s3, bucket, "r.edf", part_size=SMALL_PART)
    np.testing.assert_array_equal(record.signals, read_bytes(data, "r.edf").signals)
    assert info.format == "edf"


async def test_missing_key_and_missing_bucket(s3, bucket) -> None:
    with pytest.raises(ObjectNotFound, match="nothing.csv"):
        await read_record(s3, bucket, "nothing.csv")
    with pytest.raises(ObjectNotFound):
        await read_record(s3, "no-such-bucket-for-fhr", "x.csv")


async def test_wfdb_header_without_its_dat(s3, bucket, set_a_dir: Path) -> None:
    await _put(s3, bucket, "lonely.hea", (set_a_dir / "a01.hea").read_bytes())
    with pytest.raises(ObjectNotFound, match="a01.dat"):
        await read_record(s3, bucket, "lonely.hea")


async def test_too_large_is_refused_after_one_head(proxied_s3, proxy, bucket, s3, physionet_csv) -> None:
    data, _ = physionet_csv(seconds=12)
    await _put(s3, bucket, "big.csv", data)
    with pytest.raises(ObjectTooLarge, match="exceeds"):
        await read_record(proxied_s3, bucket, "big.csv", max_bytes=len(data) - 1)
    assert [method for method, _, _ in proxy.log] == ["HEAD"]


async def test_bad_record_in_a_stream_is_a_record_error_with_its_line(s3, bucket, physionet_csv) -> None:
    data, _ = physionet_csv(seconds=20, fs=1000, channels=2)
    lines = data.split(b"\n")
    lines[15_000] = b"'0:15.000',0.1"
    await _put(s3, bucket, "ragged.csv", b"\n".join(lines))
    with pytest.raises(CorruptRecord, match="line 15001: 2 fields"):
        await read_record(s3, bucket, "ragged.csv", part_size=SMALL_PART)


async def test_garbage_object(s3, bucket) -> None:
    await _put(s3, bucket, "junk.bin", np.random.default_rng(1).bytes(200_000))
    with pytest.raises(RecordError, match="binary"):
        await read_record(s3, bucket, "junk.bin", part_size=SMALL_PART)


@pytest.mark.parametrize("failure", ["503", "reset"])
async def test_transient_failures_are_retried(proxied_s3, proxy, bucket, s3, physionet_csv, failure: str) -> None:
    data, _ = physionet_csv(seconds=12, fs=1000, channels=2)
    await _put(s3, bucket, "flaky.csv", data)
    proxy.fail_first, proxy.failure = 3, failure
    record, _, timings = await read_record(proxied_s3, bucket, "flaky.csv", part_size=SMALL_PART, concurrency=2)
    np.testing.assert_array_equal(record.signals, read_bytes(data, "flaky.csv").signals)
    assert [method for method, _, _ in proxy.log[:3]] == ["HEAD"] * 3  # the first three requests failed
    # A dropped connection may also be re-sent once by the HTTP layer itself, so count at least one of ours.
    assert timings["retries"] >= (3 if failure == "503" else 1)


async def test_a_body_cut_mid_part_resumes_where_it_stopped(proxied_s3, proxy, bucket, s3, physionet_csv) -> None:
    data, _ = physionet_csv(seconds=20, fs=1000, channels=3)
    await _put(s3, bucket, "cut.csv", data)
    proxy.truncate = {1, 3}  # after the HEAD: the first part, and another one, lose their second half
    record, _, timings = await read_record(proxied_s3, bucket, "cut.csv", part_size=SMALL_PART * 2, concurrency=2)
    np.testing.assert_array_equal(record.signals, read_bytes(data, "cut.csv").signals)
    assert timings["retries"] >= 2
    starts = [int(rng.split("=")[1].split("-")[0]) for method, _, rng in proxy.log if method == "GET" and rng]
    assert any(start % (SMALL_PART * 2) for start in starts), f"no range resumed mid-part: {starts}"
    assert timings["bytes"] == len(data)  # every byte handed to the parser exactly once


async def test_persistent_failures_exhaust_the_retries(proxied_s3, proxy, bucket, s3, physionet_csv) -> None:
    data, _ = physionet_csv(seconds=12)
    await _put(s3, bucket, "down.csv", data)
    proxy.fail_first = 10_000
    with pytest.raises(StorageUnavailable, match="after 2 retries"):
        await read_record(proxied_s3, bucket, "down.csv", retries=2)
    assert len(proxy.log) == 3  # the HEAD, tried three times


async def test_object_overwritten_mid_read_is_detected(proxied_s3, proxy, bucket, s3, physionet_csv) -> None:
    data, _ = physionet_csv(seconds=20, fs=1000, channels=2)
    await _put(s3, bucket, "moving.csv", data)

    async def overwrite() -> None:
        await _put(s3, bucket, "moving.csv", data.replace(b"'0:00.000'", b"'0:00.000' "))

    proxy.hooks[3] = overwrite  # after the HEAD and two parts
    with pytest.raises(ObjectChanged, match="changed while it was being read"):
        await read_record(proxied_s3, bucket, "moving.csv", part_size=SMALL_PART, concurrency=1)


def test_storage_errors_share_one_base_with_codes() -> None:
    codes = set()
    for error in (ObjectNotFound, ObjectTooLarge, ObjectChanged, StorageUnavailable):
        assert issubclass(error, StorageError)
        codes.add(error.code)
    assert len(codes) == 4


async def test_invalid_arguments(s3, bucket) -> None:
    with pytest.raises(ValueError, match="part_size"):
        await read_record(s3, bucket, "x.csv", part_size=1024)


async def test_fetch_object_returns_the_exact_bytes(s3, bucket) -> None:
    from handlers.storage.s3stream import fetch_object

    body = np.random.default_rng(2).bytes(5 * SMALL_PART + 123)
    await _put(s3, bucket, "blob.bin", body)
    data, info, timings = await fetch_object(s3, bucket, "blob.bin", part_size=SMALL_PART, concurrency=2)
    assert data == body
    assert info.size == len(body) and timings["parts"] == 6
