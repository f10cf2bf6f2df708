"""Writers: each file matches its format's layout, checked by independent parsers (wfdb, pandas, the EDF spec)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from handlers.fhr.record import Record
from handlers.fhr.synth import synthesize
from handlers.fhr.writers import (
    WriterError,
    format_for_path,
    to_csv,
    to_edf,
    to_physionet_csv,
    to_wfdb,
    write_record,
)


@pytest.fixture(scope="module")
def record() -> Record:
    """20 s, 3 channels at 500 Hz, with a signal-loss segment (NaN)."""
    rec, _ = synthesize(1 / 3, 3, 500.0, seed=21, signal_loss=1, motion_artefacts=1)
    assert np.isnan(rec.signals).any()
    return rec


def small_record(values: list[list[float]], fs: float = 1000.0) -> Record:
    signals = np.asarray(values, dtype=np.float32)
    return Record(signals, fs, tuple(f"C{i + 1}" for i in range(signals.shape[1])), "test", "synthetic")


# --- PhysioNet text CSV ---------------------------------------------------------------------------------


def test_physionet_csv_layout(record: Record) -> None:
    lines = to_physionet_csv(record).decode("ascii").splitlines()
    assert lines[0] == "'Elapsed time','AECG1','AECG2','AECG3'"
    assert lines[1] == "'hh:mm:ss.mmm','mV','mV','mV'"
    assert len(lines) == 2 + record.n_samples
    assert lines[2].startswith("'0:00.000',") and lines[3].startswith("'0:00.002',")
    assert lines[-1].startswith("'0:19.998',")
    row = re.compile(r"^'\d+:\d\d\.\d{3}'(,(-?\d+\.\d{3}|-)){3}$")
    assert all(row.match(line) for line in lines[2:])


def test_physionet_csv_values_read_back_with_pandas(record: Record) -> None:
    import pandas as pd

    frame = pd.read_csv(
        io.BytesIO(to_physionet_csv(record)), skiprows=[1], quotechar="'", na_values=["-"], keep_default_na=False
    )
    assert list(frame.columns) == ["Elapsed time", *record.channels]
    values = frame[list(record.channels)].to_numpy() * 1000.0
    assert np.array_equal(np.isnan(values), np.isnan(record.signals))
    finite = np.isfinite(values)
    assert np.max(np.abs(values[finite] - record.signals[finite])) <= 0.5 + 1e-3  # 1 µV steps (3 decimals of mV)


def test_physionet_csv_edge_values_and_hours() -> None:
    rec = small_record([[0.0, -1234.56], [12.3, np.nan], [-0.4, 5.0], [-99999.9, -7.0]], fs=1000.0)
    lines = to_physionet_csv(rec).decode().splitlines()[2:]
    assert lines == [
        "'0:00.000',0.000,-1.235",
        "'0:00.001',0.012,-",
        "'0:00.002',0.000,0.005",
        "'0:00.003',-100.000,-0.007",
    ]
    long = Record(np.zeros((36_011, 1), dtype=np.float32), 10.0, ("C1",), "test", "synthetic")
    tail = to_physionet_csv(long).decode().splitlines()
    assert tail[2] == "'0:00:00.000',0.000" and tail[-1] == "'1:00:01.000',0.000"


# --- generic CSV ------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_generic_csv_reads_back(record: Record, delimiter: str) -> None:
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(to_csv(record, delimiter=delimiter)), sep=delimiter)
    assert list(frame.columns) == ["time_s", *record.channels]
    assert np.allclose(frame["time_s"].to_numpy(), np.arange(record.n_samples) / record.fs, atol=1e-9)
    values = frame[list(record.channels)].to_numpy()
    assert np.array_equal(np.isnan(values), np.isnan(record.signals))
    finite = np.isfinite(values)
    assert np.max(np.abs(values[finite] - record.signals[finite])) <= 0.05 + 1e-4


def test_generic_csv_options() -> None:
    rec = small_record([[1500.0, np.nan], [-2.5, 3.26]], fs=256.0)
    assert to_csv(rec).decode() == "time_s,C1,C2\n0.00000000,1500.0,\n0.00390625,-2.5,3.3\n"
    assert to_csv(rec, header=False, time_column=False, units="mV", decimals=4, na_rep="NaN").decode() == (
        "1.5000,NaN\n-0.0025,0.0033\n"
    )
    with pytest.raises(WriterError, match="units"):
        to_csv(rec, units="V")
    with pytest.raises(WriterError, match="delimiter"):
        to_csv(rec, delimiter="|")


# --- WFDB -------------------------------------------------------------------------------------------


def test_wfdb_reads_back_with_the_wfdb_package(record: Record, tmp_path: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    files = write_record(record, tmp_path / "syn.hea")
    assert [p.name for p in files] == ["syn.hea", "syn.dat"]
    read = wfdb.rdrecord(str(tmp_path / "syn"))
    assert read.fs == record.fs and read.sig_len == record.n_samples
    assert read.sig_name == list(record.channels) and read.units == ["uV"] * 3 and read.fmt == ["16"] * 3
    assert np.array_equal(np.isnan(read.p_signal), np.isnan(record.signals))
    finite = np.isfinite(record.signals)
    step = 1.0 / np.asarray(read.adc_gain)  # µV per adu
    error = np.abs(np.where(finite, read.p_signal, 0) - np.where(finite, record.signals, 0))
    assert np.all(error <= step[None, :] / 2 + 1e-3)
    # Full 16-bit resolution: each channel's range spans about ±32000 adu.
    digital = wfdb.rdrecord(str(tmp_path / "syn"), physical=False).d_signal
    valid = digital[digital != -32768].reshape(-1)
    assert valid.min() >= -32767 and valid.max() <= 32767
    assert np.all(np.ptp(np.where(digital == -32768, 0, digital), axis=0) > 60000)


def test_wfdb_header_fields_and_checksums(record: Record) -> None:
    files = to_wfdb(record, "syn")
    lines = files.header.decode().splitlines()
    assert lines[0] == f"syn 3 500 {record.n_samples}"
    stored = np.frombuffer(files.data, dtype="<i2").reshape(-1, 3)
    for channel, line in enumerate(lines[1:]):
        name, fmt, gain, resolution, zero, first, checksum, block, label = line.split()
        assert (name, fmt, resolution, block, label) == ("syn.dat", "16", "16", "0", record.channels[channel])
        assert re.fullmatch(r"[0-9.e+]+\(-?\d+\)/uV", gain)
        assert int(first) == stored[0, channel]
        assert int(checksum) == ((int(stored[:, channel].astype(np.int64).sum()) + 32768) % 65536) - 32768


def test_wfdb_round_trip_of_a_set_a_record(set_a_dir: Path, tmp_path: Path) -> None:
    """A real record read by wfdb, written by us, read by wfdb again: equal within our quantisation."""
    wfdb = pytest.importorskip("wfdb")
    original = wfdb.rdrecord(str(set_a_dir / "a01"))
    rec = Record(original.p_signal.astype(np.float32), float(original.fs), tuple(original.sig_name), "a01", "wfdb")
    write_record(rec, tmp_path / "copy", "wfdb")
    copy = wfdb.rdrecord(str(tmp_path / "copy"))
    step = 1.0 / np.asarray(copy.adc_gain)
    finite = np.isfinite(original.p_signal)
    assert np.array_equal(finite, np.isfinite(copy.p_signal))
    tolerance = np.broadcast_to(step / 2 + 1e-4, finite.shape)[finite]  # half a step, plus float32 rounding
    assert np.all(np.abs(copy.p_signal[finite] - original.p_signal[finite]) <= tolerance)


# --- EDF --------------------------------------------------------------------------------------------


def parse_edf(data: bytes) -> dict:
    """An independent, spec-literal EDF header and data parser (EDF spec, Kemp et al. 1992; EDF+ 2003)."""

    def text(offset: int, width: int) -> str:
        return data[offset : offset + width].decode("ascii").rstrip(" ")

    ns = int(text(252, 4))
    header = {
        "version": text(0, 8),
        "patient": text(8, 80),
        "recording": text(88, 80),
        "startdate": text(168, 8),
        "starttime": text(176, 8),
        "header_bytes": int(text(184, 8)),
        "reserved": text(192, 44),
        "n_records": int(text(236, 8)),
        "duration": float(text(244, 8)),
        "ns": ns,
    }
    fields = (("label", 16), ("transducer", 80), ("dimension", 8), ("pmin", 8), ("pmax", 8))
    fields += (("dmin", 8), ("dmax", 8), ("prefilter", 80), ("samples", 8), ("sreserved", 32))
    offset = 256
    signals: list[dict] = [{} for _ in range(ns)]
    for field, width in fields:
        for i in range(ns):
            raw = data[offset : offset + width]
            assert len(raw) == width and raw.decode("ascii").strip() == raw.decode("ascii").rstrip(" ")
            signals[i][field] = raw.decode("ascii").rstrip(" ")
            offset += width
    assert offset == header["header_bytes"] == 256 * (ns + 1)
    samples = [int(s["samples"]) for s in signals]
    body = np.frombuffer(data[offset:], dtype="<i2")
    assert body.size == header["n_records"] * sum(samples)
    blocks = body.reshape(header["n_records"], sum(samples))
    edges = np.cumsum([0, *samples])
    digital = [blocks[:, edges[i] : edges[i + 1]].reshape(-1) for i in range(ns)]
    return {"header": header, "signals": signals, "digital": digital}


def physical(signal: dict, digital: np.ndarray) -> np.ndarray:
    pmin, pmax, dmin, dmax = (float(signal[k]) for k in ("pmin", "pmax", "dmin", "dmax"))
    return (digital.astype(np.float64) - dmin) * (pmax - pmin) / (dmax - dmin) + pmin


def test_edf_header_and_samples_per_spec(record: Record) -> None:
    parsed = parse_edf(to_edf(record))
    header, signals = parsed["header"], parsed["signals"]
    assert header["version"] == "0" and header["reserved"] == ""
    assert re.fullmatch(r"\d\d\.\d\d\.\d\d", header["startdate"]) and re.fullmatch(
        r"\d\d\.\d\d\.\d\d", header["starttime"]
    )
    assert header["ns"] == 3 and header["duration"] == 1.0 and header["n_records"] == 20
    for channel, signal in enumerate(signals):
        assert signal["label"] == record.channels[channel] and signal["dimension"] == "uV"
        assert (signal["dmin"], signal["dmax"], signal["samples"]) == ("-32767", "32767", "500")
        assert len(signal["pmin"]) <= 8 and len(signal["pmax"]) <= 8
        values = record.signals[:, channel]
        finite = np.isfinite(values)
        assert float(signal["pmin"]) <= values[finite].min() and float(signal["pmax"]) >= values[finite].max()
        digital = parsed["digital"][channel]
        assert np.array_equal(digital == -32768, ~finite)
        step = (float(signal["pmax"]) - float(signal["pmin"])) / 65534
        assert np.max(np.abs(physical(signal, digital[finite]) - values[finite])) <= step / 2 + 1e-3


def test_edf_plus_has_time_keeping_annotations(record: Record) -> None:
    parsed = parse_edf(to_edf(record, plus=True))
    header, signals = parsed["header"], parsed["signals"]
    assert header["reserved"].startswith("EDF+C") and header["ns"] == 4
    annotations = signals[-1]
    assert annotations["label"] == "EDF Annotations" and (annotations["dmin"], annotations["dmax"]) == (
        "-32768",
        "32767",
    )
    words = parsed["digital"][-1].reshape(header["n_records"], -1)
    for index, block in enumerate(words):
        assert block.astype("<i2").tobytes().startswith(f"+{index}\x14\x14\x00".encode())


@pytest.mark.parametrize("plus", [False, True])
def test_edf_reads_back_with_edfio(record: Record, plus: bool) -> None:
    """edfio (an independent EDF/EDF+ implementation) reads our bytes back within half a step."""
    edfio = pytest.importorskip("edfio")
    data = to_edf(record, plus=plus)
    read = edfio.read_edf(io.BytesIO(data))
    assert [s.label for s in read.signals] == list(record.channels)
    assert all(s.sampling_frequency == record.fs and s.physical_dimension == "uV" for s in read.signals)
    assert read.num_data_records == 20 and read.data_record_duration == 1.0
    if plus:
        assert read.annotations == ()  # time-keeping TALs only, no user annotations
    limits = parse_edf(data)["signals"]
    for channel, signal in enumerate(read.signals):
        values = record.signals[:, channel]
        finite = np.isfinite(values)
        step = (float(limits[channel]["pmax"]) - float(limits[channel]["pmin"])) / 65534
        assert np.max(np.abs(signal.data[finite] - values[finite])) <= step / 2 + 1e-3


def test_edf_pads_a_partial_last_record_and_keeps_limits_in_8_characters() -> None:
    rec = small_record([[-123456.789, 0.5]] * 3 + [[98765.4321, -0.25]] * 1498, fs=500.0)
    parsed = parse_edf(to_edf(rec))
    assert parsed["header"]["n_records"] == 4  # 1501 samples = 3 full seconds + 1 sample
    first = parsed["signals"][0]
    # Limits round outward to fit 8 characters (98765.4321 is 98765.4297 in float32).
    assert first["pmin"] == "-123457" and first["pmax"] == "98765.43"
    assert np.all(parsed["digital"][0][1501:] == -32768)


# --- files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.csv", "physionet-csv"), ("a.txt", "csv"), ("a.TSV", "csv"), ("a.hea", "wfdb"), ("a.edf", "edf")],
)
def test_format_from_the_extension(name: str, expected: str) -> None:
    assert format_for_path(name) == expected


def test_unknown_format_or_extension_is_a_writer_error() -> None:
    with pytest.raises(WriterError, match="cannot tell"):
        format_for_path("a.xyz")
    with pytest.raises(WriterError, match="unknown format"):
        format_for_path("a.csv", "parquet")


def test_tsv_file_is_tab_separated(record: Record, tmp_path: Path) -> None:
    (path,) = write_record(record, tmp_path / "x.tsv")
    assert path.read_text().splitlines()[0] == "time_s\tAECG1\tAECG2\tAECG3"


# --- round trips through our own readers ------------------------------------------------------------


def test_wfdb_round_trip_through_our_reader(record: Record, tmp_path: Path) -> None:
    from handlers.fhr.readers import read_bytes, read_path

    files = to_wfdb(record, "syn")
    from_bytes = read_bytes(files.header, "syn.hea", files.data)
    write_record(record, tmp_path / "syn.hea")
    from_disk = read_path(tmp_path / "syn.hea")
    gains = [float(line.split()[2].split("(")[0]) for line in files.header.decode().splitlines()[1:]]
    for read in (from_bytes, from_disk):
        assert read.format == "wfdb" and read.fs == record.fs and read.channels == record.channels
        assert np.array_equal(np.isnan(read.signals), np.isnan(record.signals))
        finite = np.isfinite(record.signals)
        error = np.abs(np.where(finite, read.signals - record.signals, 0.0))
        assert np.all(error <= 0.5 / np.asarray(gains)[None, :] + 1e-3)


@pytest.mark.parametrize(
    ("fmt", "name", "options", "tolerance"),
    [
        ("physionet-csv", "syn.csv", None, 0.5),
        ("csv", "syn.csv", {}, 0.05),
        ("csv", "syn.csv", {"delimiter": ";", "units": "mV", "decimals": 4}, 0.05),
        ("csv", "syn.tsv", {"delimiter": "\t"}, 0.05),
    ],
)
def test_text_round_trips_through_our_reader(
    record: Record, fmt: str, name: str, options: dict | None, tolerance: float
) -> None:
    from handlers.fhr.readers import read_bytes

    data = to_physionet_csv(record) if options is None else to_csv(record, **options)
    read = read_bytes(data, name)
    assert read.format == fmt and read.fs == record.fs and read.channels == record.channels
    assert np.array_equal(np.isnan(read.signals), np.isnan(record.signals))
    finite = np.isfinite(record.signals)
    assert np.max(np.abs(read.signals[finite] - record.signals[finite])) <= tolerance + 1e-3


@pytest.mark.parametrize("plus", [False, True])
def test_edf_round_trips_through_our_reader(plus: bool) -> None:
    """Without invalid samples: EDF defines no invalid value, and our reader does not treat -32768 as one."""
    from handlers.fhr.readers import read_bytes

    clean, _ = synthesize(1 / 3, 3, 500.0, seed=22, motion_artefacts=1)
    data = to_edf(clean, plus=plus)
    read = read_bytes(data, "syn.edf")
    assert read.format == "edf" and read.fs == clean.fs and read.channels == clean.channels
    assert read.signals.shape == clean.signals.shape
    for channel, signal in enumerate(parse_edf(data)["signals"][: clean.n_channels]):
        step = (float(signal["pmax"]) - float(signal["pmin"])) / 65534
        assert np.max(np.abs(read.signals[:, channel] - clean.signals[:, channel])) <= step / 2 + 1e-3
