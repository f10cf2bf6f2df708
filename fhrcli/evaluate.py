"""``fhr evaluate DIR``: score the estimator on PhysioNet/CinC 2013 set-a per ../shared/SCORING.md.

Prints one row per record and one summary per split (dev a01-a40: the only records ever used for
tuning; acceptance a41-a75: reported as measured), next to the published anchors. Records a33 a38
a47 a52 a54 a71 a74 are excluded from every score (SCORING.md) and
are listed as such. ``--json OUT`` writes every figure for later comparison.

Besides the 4 Hz FHR score, each record's reported fetal beats are scored against the reference
annotation (:func:`handlers.fhr.scoring.score_beats`): beat F1 at 50 ms, RR-interval RMSE (ms) and
its coverage, and the minute STV from the beats next to the same definition on the reference. Where
the published per-record beat scores are at hand (``--anchors``, by default the
``challenge2013-set-a-baseline-results`` directory beside DIR), each split also shows the mean F1 of
those algorithms over the same records.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="score the estimator on set-a (SCORING.md)", description=__doc__)
    p.add_argument("directory", type=Path, help="the set-a directory (aNN.hea/.dat and derived/aNN.fqrs.txt)")
    p.add_argument("--records", default="a01-a75", help="records to run, e.g. a01-a40 or a01,a05,a41-a43")
    p.add_argument("--json", dest="json_out", metavar="OUT", help="write per-record and per-split figures here")
    p.add_argument("--options", metavar="JSON", help="estimator options for every record")
    p.add_argument(
        "--anchors",
        type=Path,
        metavar="DIR",
        help="per-record beat scores of published algorithms (per_record_scores.csv); "
        "default: challenge2013-set-a-baseline-results beside DIR",
    )
    p.set_defaults(func=run)


def split_of(name: str) -> str:
    from handlers.fhr.scoring import ACCEPTANCE_RECORDS, DEV_RECORDS, EXCLUDED_RECORDS

    if name in EXCLUDED_RECORDS:
        return "excluded"
    if name in DEV_RECORDS:
        return "dev"
    return "acceptance" if name in ACCEPTANCE_RECORDS else "other"


def evaluate(
    directory: Path, names: list[str], options: dict | None = None, anchors: Path | None = None
) -> dict[str, Any]:
    """Run and score every named record; returns per-record rows and per-split summaries."""
    from handlers.fhr import estimator, scoring
    from handlers.fhr.readers import read_path

    rows: list[dict[str, Any]] = []
    by_split: dict[str, list[scoring.RecordScore]] = {}
    beats_by_split: dict[str, list[scoring.BeatScore]] = {}
    for name in names:
        split = split_of(name)
        if split == "excluded":
            rows.append({"record": name, "split": split})
            continue
        record = read_path(directory / f"{name}.hea")
        started = time.perf_counter()
        analysis = estimator.analyse(record, options)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        reference = scoring.read_reference_beats(directory, name)
        score = scoring.score_record(name, reference, record.duration_s, analysis.fhr_bpm, mhr_bpm=analysis.mhr_bpm)
        beats = scoring.score_beats(
            name, reference, record.duration_s, analysis.fetal_beats_s, analysis.fetal_rr_trusted
        )
        by_split.setdefault(split, []).append(score)
        beats_by_split.setdefault(split, []).append(beats)
        beat_row = {k: v for k, v in beats.as_dict().items() if k != "record"}
        rows.append({"split": split, "estimate_ms": round(elapsed_ms, 1), **score.as_dict(), "beats": beat_row})
    published = read_anchor_f1(anchors if anchors is not None else directory.parent / ANCHOR_DIR)
    splits = {}
    for split, scores in by_split.items():
        records = [s.record for s in scores]
        splits[split] = {
            **scoring.score_set(scores).as_dict(),
            "beats": scoring.score_beat_set(beats_by_split[split]).as_dict(),
            "published_beat_f1_mean": {
                algorithm: float(np.mean([f1[r] for r in records]))
                for algorithm, f1 in published.items()
                if all(r in f1 for r in records)
            },
        }
    return {"records": rows, "splits": splits, "anchors_bpm2": scoring.ANCHORS, "options": options or {}}


ANCHOR_DIR = "challenge2013-set-a-baseline-results"
ANCHOR_ALGORITHMS = ("varanini", "powermf")  # the two the issue quotes (behar's re-run is flagged as broken)


def read_anchor_f1(directory: Path) -> dict[str, dict[str, float]]:
    """Per-record beat F1 (50 ms) of published algorithms from ``per_record_scores.csv``, if present."""
    import csv

    path = directory / "per_record_scores.csv"
    if not path.exists():
        return {}
    scores: dict[str, dict[str, float]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["algorithm"] in ANCHOR_ALGORITHMS:
                scores.setdefault(row["algorithm"], {})[row["record"]] = float(row["F1"])
    return scores


def format_report(report: dict[str, Any]) -> str:
    header = (
        f"{'record':7} {'split':10} {'win':>3} {'MSE':>9} {'MAE':>6} {'<=5':>5} {'<=10':>5} {'cov':>5} {'conf':>4}"
        f" {'ms':>7} | {'beatF1':>6} {'FP':>3} {'FN':>3} {'RRms':>6} {'RRcov':>5} {'STVref':>6} {'STV':>6}"
    )
    lines = [header, "-" * len(header)]
    for row in report["records"]:
        if row["split"] == "excluded":
            lines.append(f"{row['record']:7} excluded   (excluded from every score per SCORING.md)")
            continue
        b = row["beats"]
        lines.append(
            f"{row['record']:7} {row['split']:10} {row['windows']:3d} {row['mse']:9.2f} {row['mae']:6.2f} "
            f"{row['within_5']:5.2f} {row['within_10']:5.2f} {row['coverage']:5.2f} {row['confusion']:4d} "
            f"{row['estimate_ms']:7.1f} | {100 * b['f1']:6.2f} {b['fp']:3d} {b['fn']:3d} "
            f"{_number(b['rr_rmse_ms'], 6, 2)} {b['rr_coverage']:5.2f} "
            f"{_minutes(b['stv_reference_ms'])} {_minutes(b['stv_test_ms'])}"
        )
    lines.append("")
    for split, s in report["splits"].items():
        lines.append(
            f"{split:10} records {s['records']:2d}  windows {s['windows']:3d}  score {s['score']:.2f} bpm^2  "
            f"MAE {s['mae']:.2f} bpm  within 5 bpm {100 * s['within_5']:.1f} %  within 10 bpm "
            f"{100 * s['within_10']:.1f} %  coverage {100 * s['coverage']:.1f} %  maternal confusion {s['confusion']}"
        )
        b = s["beats"]
        published = ", ".join(f"{k} {100 * v:.1f} %" for k, v in s["published_beat_f1_mean"].items())
        lines.append(
            f"{'':10} beats: F1 {100 * b['f1_mean']:.2f} % (mean over records; {100 * b['f1_gross']:.2f} % pooled; "
            f"{100 * b['f1_in_span_mean']:.2f} % within the annotated span)"
            + (f"  published on the same records: {published}" if published else "")
        )
        lines.append(
            f"{'':10} RR RMSE {b['rr_rmse_mean_ms']:.2f} ms (mean over records; trusted intervals, "
            f"{100 * b['rr_coverage']:.1f} % of plausible reference intervals covered; strict challenge reading "
            f"{b['rr_rmse_strict_mean_ms']:.2f} ms)  minute STV vs reference: |diff| median "
            f"{b['stv_abs_diff_median_ms']:.2f} ms, p90 {b['stv_abs_diff_p90_ms']:.2f} ms "
            f"over {b['stv_minutes']} minutes"
        )
    lines.append("published anchors (bpm^2): " + ", ".join(f"{k} {v}" for k, v in report["anchors_bpm2"].items()))
    lines.append("(set-a was the challenge's training set: scores on it are optimistic against set B/C anchors)")
    return "\n".join(lines)


def _number(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def _minutes(values: list[float | None]) -> str:
    """One minute's value (set-a records are one minute); the mean of the valid ones for longer records."""
    valid = [v for v in values if v is not None]
    return _number(sum(valid) / len(valid) if valid else None, 6, 2)


def run(args: argparse.Namespace) -> int:
    from handlers.fhr.errors import FhrError
    from handlers.fhr.scoring import parse_record_range

    try:
        options = json.loads(args.options) if args.options else None
        names = parse_record_range(args.records)
        report = evaluate(args.directory, names, options, args.anchors)
    except (FhrError, FileNotFoundError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=1))
    return 0
