"""``fhr evaluate DIR``: score the estimator on PhysioNet/CinC 2013 set-a per ../shared/SCORING.md.

Prints one row per record and one summary per split (dev a01-a40: the only records ever used for
tuning; acceptance a41-a75: reported as measured), next to the published anchors. Records a33 a38
a47 a52 a54 a71 a74 are excluded from every score (SCORING.md) and
are listed as such. ``--json OUT`` writes every figure for later comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="score the estimator on set-a (SCORING.md)", description=__doc__)
    p.add_argument("directory", type=Path, help="the set-a directory (aNN.hea/.dat and derived/aNN.fqrs.txt)")
    p.add_argument("--records", default="a01-a75", help="records to run, e.g. a01-a40 or a01,a05,a41-a43")
    p.add_argument("--json", dest="json_out", metavar="OUT", help="write per-record and per-split figures here")
    p.add_argument("--options", metavar="JSON", help="estimator options for every record")
    p.set_defaults(func=run)


def split_of(name: str) -> str:
    from handlers.fhr.scoring import ACCEPTANCE_RECORDS, DEV_RECORDS, EXCLUDED_RECORDS

    if name in EXCLUDED_RECORDS:
        return "excluded"
    if name in DEV_RECORDS:
        return "dev"
    return "acceptance" if name in ACCEPTANCE_RECORDS else "other"


def evaluate(directory: Path, names: list[str], options: dict | None = None) -> dict[str, Any]:
    """Run and score every named record; returns per-record rows and per-split summaries."""
    from handlers.fhr import estimator, scoring
    from handlers.fhr.readers import read_path

    rows: list[dict[str, Any]] = []
    by_split: dict[str, list[scoring.RecordScore]] = {}
    for name in names:
        split = split_of(name)
        if split == "excluded":
            rows.append({"record": name, "split": split})
            continue
        record = read_path(directory / f"{name}.hea")
        started = time.perf_counter()
        analysis = estimator.analyse(record, options)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        score = scoring.score_record(
            name,
            scoring.read_reference_beats(directory, name),
            record.duration_s,
            analysis.fhr_bpm,
            mhr_bpm=analysis.mhr_bpm,
        )
        by_split.setdefault(split, []).append(score)
        rows.append({"split": split, "estimate_ms": round(elapsed_ms, 1), **score.as_dict()})
    splits = {split: scoring.score_set(scores).as_dict() for split, scores in by_split.items()}
    return {"records": rows, "splits": splits, "anchors_bpm2": scoring.ANCHORS, "options": options or {}}


def format_report(report: dict[str, Any]) -> str:
    header = (
        f"{'record':7} {'split':10} {'win':>3} {'MSE':>9} {'MAE':>6} {'<=5':>5} {'<=10':>5} {'cov':>5} {'conf':>4}"
        f" {'ms':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in report["records"]:
        if row["split"] == "excluded":
            lines.append(f"{row['record']:7} excluded   (excluded from every score per SCORING.md)")
            continue
        lines.append(
            f"{row['record']:7} {row['split']:10} {row['windows']:3d} {row['mse']:9.2f} {row['mae']:6.2f} "
            f"{row['within_5']:5.2f} {row['within_10']:5.2f} {row['coverage']:5.2f} {row['confusion']:4d} "
            f"{row['estimate_ms']:7.1f}"
        )
    lines.append("")
    for split, s in report["splits"].items():
        lines.append(
            f"{split:10} records {s['records']:2d}  windows {s['windows']:3d}  score {s['score']:.2f} bpm^2  "
            f"MAE {s['mae']:.2f} bpm  within 5 bpm {100 * s['within_5']:.1f} %  within 10 bpm "
            f"{100 * s['within_10']:.1f} %  coverage {100 * s['coverage']:.1f} %  maternal confusion {s['confusion']}"
        )
    lines.append("published anchors (bpm^2): " + ", ".join(f"{k} {v}" for k, v in report["anchors_bpm2"].items()))
    lines.append("(set-a was the challenge's training set: scores on it are optimistic against set B/C anchors)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from handlers.fhr.errors import FhrError
    from handlers.fhr.scoring import parse_record_range

    try:
        options = json.loads(args.options) if args.options else None
        names = parse_record_range(args.records)
        report = evaluate(args.directory, names, options)
    except (FhrError, FileNotFoundError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=1))
    return 0
