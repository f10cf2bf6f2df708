"""Benchmark: parsing a 30-minute, 4-channel, 1 kHz record (PhysioNet CSV ~66 MB, WFDB, EDF).

Run: ``venv/bin/python -m benchmarks.bench_readers`` (``--layouts``: the layout table only). The yardstick
is ``pandas.read_csv`` (C engine)
parsing the same in-memory bytes in the same run; every figure is also given as a ratio to it:

- ``pandas_numeric_columns_only``: pandas skipping the quoted time column, a stricter yardstick;
- ``ours_2threads``: ``read_bytes`` as shipped (SWAR blocks of 1 MiB on two threads, validation included);
- ``ours_1thread``: the same on one worker thread (a Lambda under 1,769 MB has one vCPU);
- ``ours_one_block``: the SWAR path over the whole body as ONE block (why we cut it into blocks);
- ``shortest_repr`` / ``quoted_scientific``: the same samples as pandas writes them (mixed decimals and
  some ``1e-04``) and as quoted scientific notation, ours vs pandas on each file;
- ``generic_path``: the robust fallback for irregular number formats (split + numpy float conversion);
- ``numpy_loadtxt``: the stock numpy parser, as a second baseline;
- WFDB format 16 and EDF parse of the same record; set-a a01 (60 s) from disk;
- ``pipeline``: bytes -> ``read_bytes`` -> ``handlers.fhr.estimate`` (the issue's goal: <= 1.0x pandas);
- peak RSS of a fresh process doing that pipeline on the CSV (budget 300 MB), and of one that only
  imports numpy and the package (its floor);
- ``layouts``: the goal table (issue 13: bytes -> full result <= 0.8x ``pandas.read_csv`` of the same bytes)
  on both text layouts - ``generated`` (our writer: quoted clock time ``'0:00.000'``) and ``physionet``
  (PhysioNet's own export of set-a: time in seconds ``0.000``, millivolts ``-0.500``, both unquoted, so
  pandas parses every column as a number) - with two worker threads, and with one worker thread on
  one CPU (the process pinned to a core, FFTW on one thread: a function under 1,769 MB has one vCPU).
  ``numpy_path`` repeats the parse without the native parser (``csvparse.c``), for comparison. pandas, our
  parse and our pipeline are timed in turn, round after round (medians of 7), so load that comes and goes
  on a shared machine weighs on both sides of the ratio; ``_cpu`` is the same ratio in CPU time, which other
  processes' load barely moves (on one pinned CPU it approximates the wall-time ratio of an idle machine).

pyarrow was not added: its wheel unpacks to well over 100 MB, too much beside numpy (~73 MB) and
botocore (~28 MB) in a 250 MB Lambda bundle; ../shared/PLATFORM.md measured ``pyarrow.csv`` at 0.48 s
on this layout, slower than pandas here anyway.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.common import alternating_medians, median_seconds, write_report

MINUTES, CHANNELS, FS = 30, 4, 1000.0
SET_A = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "challenge2013-set-a"


def _record():
    from handlers.fhr.synth import synthesize

    record, _ = synthesize(MINUTES, CHANNELS, FS, seed=7)
    return record


def _csv_figures(csv: bytes, figures: dict[str, float]) -> float:
    import pandas as pd

    from handlers.fhr.readers import read_bytes, text
    from handlers.fhr.readers.fastnum import parse_block_generic

    def pandas_parse() -> object:
        return pd.read_csv(io.BytesIO(csv), skiprows=[1], quotechar="'")

    pandas_s = median_seconds(pandas_parse, repeat=5)
    numeric_only = median_seconds(
        lambda: pd.read_csv(io.BytesIO(csv), skiprows=[1], quotechar="'", usecols=range(1, 1 + CHANNELS)), repeat=5
    )
    figures["pandas_numeric_columns_only_s"] = round(numeric_only, 4)
    ours = median_seconds(lambda: read_bytes(csv, "rec.csv"), repeat=7)
    figures.update(csv_bytes=len(csv), pandas_read_csv_s=round(pandas_s, 4), ours_2threads_s=round(ours, 4))

    with text.parse_threads(1):
        figures["ours_1thread_s"] = round(median_seconds(lambda: read_bytes(csv, "rec.csv"), repeat=5), 4)
        block_bytes = text.BLOCK_BYTES
        text.BLOCK_BYTES = len(csv)
        try:
            figures["ours_one_block_s"] = round(median_seconds(lambda: read_bytes(csv, "rec.csv"), repeat=1), 4)
        finally:
            text.BLOCK_BYTES = block_bytes

    layout = text.sniff_layout(csv, "rec.csv", physionet=True)
    body = csv[layout.data_start :]
    figures["generic_path_s"] = round(median_seconds(lambda: parse_block_generic(body, layout.spec), repeat=1), 3)
    figures["numpy_loadtxt_s"] = round(
        median_seconds(
            lambda: np.loadtxt(io.BytesIO(csv), delimiter=",", skiprows=2, usecols=range(1, 1 + CHANNELS)),
            repeat=1,
            warmup=0,
        ),
        3,
    )
    _other_syntax_figures(csv, figures)
    for name in ("ours_2threads", "ours_1thread", "ours_one_block", "generic_path", "numpy_loadtxt"):
        figures[f"{name}_vs_pandas"] = round(figures[f"{name}_s"] / pandas_s, 3)
    figures["ours_2threads_vs_pandas_numeric_only"] = round(ours / numeric_only, 3)
    return pandas_s


def _other_syntax_figures(csv: bytes, figures: dict[str, float]) -> None:
    """The same samples as pandas writes them (shortest round trip, some ``1e-04``) and in quoted
    scientific notation (every field takes the vectorised fixed-width-string path), each against
    pandas parsing that same file."""
    import pandas as pd

    from handlers.fhr.readers import read_bytes

    frame = pd.read_csv(io.BytesIO(csv), skiprows=[1], quotechar="'").iloc[:, 1:].astype(np.float32)
    frame.columns = [f"{name} (mV)" for name in frame.columns]
    frame.insert(0, "time", np.arange(len(frame)) / FS)
    variants = {
        "shortest_repr": frame.to_csv(index=False).encode(),
        "quoted_scientific": frame.to_csv(index=False, float_format="%.6e", quoting=1).encode(),
    }
    for name, data in variants.items():
        ours = median_seconds(lambda data=data: read_bytes(data, "x.csv"), repeat=3)
        yardstick = median_seconds(lambda data=data: pd.read_csv(io.BytesIO(data)), repeat=3)
        figures[f"{name}_bytes"] = len(data)
        figures[f"{name}_ours_s"] = round(ours, 4)
        figures[f"{name}_pandas_s"] = round(yardstick, 4)
        figures[f"{name}_ours_vs_pandas"] = round(ours / yardstick, 3)


def _binary_figures(record, pandas_s: float, figures: dict[str, float]) -> None:
    from handlers.fhr import writers
    from handlers.fhr.readers import read_bytes, read_path

    files = writers.to_wfdb(record, "rec")
    wfdb_s = median_seconds(lambda: read_bytes(files.header, "rec.hea", files.data), repeat=7)
    edf = writers.to_edf(record)
    edf_s = median_seconds(lambda: read_bytes(edf, "rec.edf"), repeat=7)
    a01_s = median_seconds(lambda: read_path(SET_A / "a01.hea"), repeat=20)
    figures.update(
        wfdb16_30min_s=round(wfdb_s, 4),
        wfdb16_vs_pandas_csv=round(wfdb_s / pandas_s, 4),
        edf_30min_s=round(edf_s, 4),
        set_a_a01_read_path_s=round(a01_s, 5),
    )


def _pipeline_figures(csv: bytes, record, pandas_s: float, figures: dict[str, float]) -> None:
    from handlers.fhr import estimate, writers
    from handlers.fhr.readers import read_bytes

    files = writers.to_wfdb(record, "rec")
    pipeline = median_seconds(lambda: estimate(read_bytes(csv, "rec.csv")), repeat=3)
    wfdb_pipeline = median_seconds(lambda: estimate(read_bytes(files.header, "rec.hea", files.data)), repeat=3)
    figures.update(
        pipeline_csv_s=round(pipeline, 3),
        pipeline_csv_vs_pandas=round(pipeline / pandas_s, 3),
        pipeline_wfdb_s=round(wfdb_pipeline, 3),
    )


def physionet_text(record) -> bytes:
    """PhysioNet's text export of set-a: elapsed seconds and millivolts, three decimals, '-' for invalid."""
    seconds = np.arange(record.signals.shape[0]) / record.fs
    millivolts = record.signals.astype(np.float64) / 1000.0
    head = "'Elapsed time'," + ",".join(f"'{name}'" for name in record.channels)
    units = "'seconds'," + ",".join("'mV'" for _ in record.channels)
    body = io.StringIO()
    np.savetxt(body, np.column_stack([seconds, millivolts]), fmt="%.3f", delimiter=",")
    text = body.getvalue().replace("nan", "-").replace("-0.000", "0.000")
    return f"{head}\n{units}\n".encode() + text.encode()


@contextlib.contextmanager
def one_cpu() -> Iterator[None]:
    """Every thread of this process (and those it starts) on one core, as on a one-vCPU function."""
    tasks = [int(tid) for tid in os.listdir("/proc/self/task")]
    saved = {tid: os.sched_getaffinity(tid) for tid in tasks}
    core = {min(os.sched_getaffinity(0))}
    for tid in tasks:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, core)
    try:
        yield
    finally:
        for tid, cpus in saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cpus)


@contextlib.contextmanager
def numpy_parser() -> Iterator[None]:
    from handlers.fhr.readers import native

    saved = native._PARSER, native._LOADED
    native._PARSER, native._LOADED = None, True
    try:
        yield
    finally:
        native._PARSER, native._LOADED = saved


def _layout_figures(layouts: dict[str, bytes]) -> dict[str, dict[str, float]]:
    """Per layout and thread count: pandas, our parse, our pipeline, and the goal ratio (pipeline / pandas)."""
    import pandas as pd

    from handlers.fhr import estimate
    from handlers.fhr.readers import native, read_bytes, text

    figures: dict[str, dict[str, float]] = {}
    for name, csv in layouts.items():
        row: dict[str, float] = {"bytes": len(csv), "native_parser": native.parser() is not None}  # type: ignore[dict-item]
        for threads in (2, 1):
            pinned = one_cpu() if threads == 1 else contextlib.nullcontext()
            with pinned, text.parse_threads(threads):
                # Alternated round by round: this machine is shared, and its load moves during a run.
                timed, cpu = alternating_medians(
                    {
                        "pandas": lambda csv=csv: pd.read_csv(io.BytesIO(csv), skiprows=[1], quotechar="'"),
                        "parse": lambda csv=csv: read_bytes(csv, "rec.csv"),
                        "pipeline": lambda csv=csv, n=threads: estimate(read_bytes(csv, "rec.csv"), {"threads": n}),
                    },
                    rounds=7,
                )
                pandas_s, parse_s, pipeline_s = timed["pandas"], timed["parse"], timed["pipeline"]
                with numpy_parser():
                    numpy_s = median_seconds(lambda csv=csv: read_bytes(csv, "rec.csv"), repeat=3)
            row.update(
                {
                    f"{threads}t_pandas_s": round(pandas_s, 4),
                    f"{threads}t_parse_s": round(parse_s, 4),
                    f"{threads}t_pipeline_s": round(pipeline_s, 4),
                    f"{threads}t_numpy_path_parse_s": round(numpy_s, 4),
                    f"{threads}t_parse_vs_pandas": round(parse_s / pandas_s, 3),
                    f"{threads}t_pipeline_vs_pandas": round(pipeline_s / pandas_s, 3),
                    f"{threads}t_pipeline_vs_pandas_cpu": round(cpu["pipeline"] / cpu["pandas"], 3),
                }
            )
        figures[name] = row
    return figures


def _peak_rss(csv: bytes, figures: dict[str, float]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rec.csv"
        path.write_bytes(csv)
        for mode in ("imports", "parse", "pipeline"):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_readers", "--rss-child", mode, str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            figures[f"peak_rss_{mode}_mb"] = json.loads(out.stdout)["peak_rss_mb"]


def _rss_child(mode: str, path: str) -> None:
    """Runs in a fresh process: the file's bytes are read first, as a handler holds an S3 body.

    Peak RSS is /proc's VmHWM: ``ru_maxrss`` would carry over the parent's peak through fork+exec.
    """
    from handlers.fhr import estimate
    from handlers.fhr.readers import read_bytes

    if mode != "imports":
        data = Path(path).read_bytes()
        record = read_bytes(data, "rec.csv")
        del data  # a handler drops the body once parsed (the S3 streamer never holds it whole)
        if mode == "pipeline":
            estimate(record)
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    print(json.dumps({"peak_rss_mb": round(peak_kb / 1024, 1)}))


def main(argv: list[str] | None = None) -> None:
    figures: dict[str, float] = {}
    record = _record()
    from handlers.fhr import writers

    csv = writers.to_physionet_csv(record)
    layouts = _layout_figures({"generated": csv, "physionet": physionet_text(record)})
    figures["layouts"] = layouts  # type: ignore[assignment]
    if argv and "--layouts" in argv:
        write_report("readers", figures)
        return
    pandas_s = _csv_figures(csv, figures)
    _binary_figures(record, pandas_s, figures)
    try:
        _pipeline_figures(csv, record, pandas_s, figures)
    except Exception as exc:  # the estimator is built in parallel; report rather than hide its absence
        figures["pipeline_error"] = f"{type(exc).__name__}: {exc}"  # type: ignore[assignment]
    _peak_rss(csv, figures)
    write_report("readers", figures)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--rss-child":
        _rss_child(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1:])
