"""``fhr synth``: write a synthetic abdominal ECG record with known truth (CSV, WFDB or EDF).

The record goes to ``--out`` (WFDB: ``<stem>.hea`` + ``<stem>.dat``) and its truth (beat times,
4 Hz FHR/MHR, events, crossings, SNR) to ``<stem>.truth.json`` beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

FORMAT_CHOICES = ("csv", "physionet-csv", "wfdb", "edf")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth", help="write a synthetic abdominal ECG record and its truth file", description=__doc__
    )
    p.add_argument("--minutes", type=_positive_float, required=True, help="record length in minutes")
    p.add_argument("--channels", type=int, default=4, help="abdominal channels (1-64, default 4)")
    p.add_argument("--fs", type=_positive_float, default=1000.0, help="sampling rate in Hz (default 1000)")
    p.add_argument("--out", type=Path, required=True, help="output file (.csv, .txt, .tsv, .hea, .edf)")
    p.add_argument(
        "--format",
        choices=FORMAT_CHOICES,
        help="file format (default from the extension: .csv = PhysioNet text CSV, .txt/.tsv = plain CSV)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same record")
    p.add_argument(
        "--snr-db",
        type=float,
        default=6.0,
        help="fetal ECG power over total noise power, in dB (default 6)",
    )
    p.add_argument("--fetal-ratio", type=float, default=0.12, help="fetal/maternal amplitude ratio (default 0.12)")
    p.add_argument("--mains-hz", type=float, default=50.0, help="powerline frequency (default 50)")
    p.add_argument("--motion-artefacts", type=int, default=0, help="number of electrode-motion artefacts")
    p.add_argument("--signal-loss", type=int, default=0, help="number of signal-loss (NaN) segments")
    p.add_argument("--clean", action="store_true", help="no noise at all (ignores --snr-db)")
    p.add_argument("--no-events", action="store_true", help="no accelerations, decelerations or crossings")
    p.set_defaults(func=run)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def truth_path(out: Path) -> Path:
    """``<stem>.truth.json`` beside the record (the stem without the format's suffix)."""
    return out.with_name(f"{out.stem if out.suffix else out.name}.truth.json")


def run(args: argparse.Namespace) -> int:
    from handlers.fhr.synth import InvalidSynthParameters, synthesize
    from handlers.fhr.writers import WriterError, format_for_path, write_record, write_truth

    started = time.perf_counter()
    try:
        fmt = format_for_path(args.out, args.format)
        record, truth = synthesize(
            args.minutes,
            args.channels,
            args.fs,
            args.seed,
            snr_db=None if args.clean else args.snr_db,
            fetal_ratio=args.fetal_ratio,
            mains_hz=args.mains_hz,
            motion_artefacts=args.motion_artefacts,
            signal_loss=args.signal_loss,
            with_events=not args.no_events,
        )
        written = write_record(record, args.out, fmt)
    except (InvalidSynthParameters, WriterError) as exc:
        print(f"fhr synth: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"fhr synth: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    written.append(write_truth(truth, truth_path(written[0])))
    elapsed = time.perf_counter() - started
    print(
        f"{fmt}: {record.n_channels} ch x {record.n_samples} samples at {record.fs:g} Hz, "
        f"{len(truth.fetal_beats)} fetal / {len(truth.maternal_beats)} maternal beats, "
        f"{len(truth.events)} events, {len(truth.crossings)} crossings, {elapsed:.2f} s"
    )
    for path in written:
        print(f"  {path} ({path.stat().st_size} bytes)")
    return 0
