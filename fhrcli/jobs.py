"""``fhr jobs redrive``: move the jobs dead-letter queue's messages back to the jobs queue, to be run again.

Reads the stack outputs (``pulumi stack output --json`` or ``fhr local``'s file): ``dlq_url`` and
``jobs_queue_url``, and for a local cloud its ``aws_endpoint_url``. Each message is sent to the jobs queue
before it is deleted from the dead-letter queue, so a crash half-way duplicates (harmless: the worker
counts each file once) but never loses one. The worker then reopens files that had failed for a reason
that was not the record's (``retries_exhausted``, ``stuck``) and analyses them again. The AWS console's
"Start DLQ redrive" does the same on AWS. Prints ``{"moved": N}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("jobs", help="operate the jobs queue of a stack", description=__doc__)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    redrive = actions.add_parser("redrive", help="move dead-lettered job messages back to the jobs queue")
    redrive.add_argument("--outputs", required=True, help="stack outputs JSON (fhr local's file, or - for stdin)")
    redrive.add_argument("--max", type=int, default=10_000, help="move at most this many messages")
    redrive.set_defaults(func=run_redrive)


def run_redrive(args: argparse.Namespace) -> int:
    from localcloud import outputs as stack_outputs

    try:
        text = sys.stdin.read() if args.outputs == "-" else open(args.outputs, encoding="utf-8").read()  # noqa: SIM115
        outputs = stack_outputs.parse(text, args.outputs)
    except (OSError, stack_outputs.OutputsError) as exc:
        print(f"fhr jobs redrive: {exc}", file=sys.stderr)
        return 2
    if args.max < 1:
        print("fhr jobs redrive: --max must be at least 1", file=sys.stderr)
        return 2
    moved = redrive(_sqs(outputs), str(outputs["dlq_url"]), str(outputs["jobs_queue_url"]), args.max)
    print(json.dumps({"moved": moved}))
    return 0


def _sqs(outputs: dict[str, Any]) -> Any:
    import boto3

    from localcloud.moto import DUMMY_CREDENTIALS

    endpoint = outputs.get("aws_endpoint_url")
    if endpoint:  # a local cloud: its moto server, with its dummy credentials
        keys = {k.lower(): v for k, v in DUMMY_CREDENTIALS.items()}
        return boto3.client("sqs", endpoint_url=endpoint, region_name=outputs.get("region"), **keys)
    return boto3.client("sqs", region_name=outputs.get("region"))


def redrive(sqs: Any, dlq_url: str, queue_url: str, limit: int) -> int:
    """Send then delete, ten at a time, until the dead-letter queue answers empty or ``limit`` is reached."""
    moved = 0
    while moved < limit:
        batch = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=min(10, limit - moved), WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        if not batch:
            return moved
        entries = [{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(batch)]
        sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        ok = {entry["Id"] for entry in sent.get("Successful", [])}
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch) if str(i) in ok]
        if done:
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=done)
        moved += len(done)
        if len(done) < len(batch):
            return moved  # the rest come back after their visibility timeout; run again
    return moved
