"""``fhr jobs redrive`` against a real moto server: dead-lettered messages go back to the jobs queue."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from fhrcli.main import main
from localcloud.outputs import STACK_OUTPUT_KEYS

REGION = "eu-west-1"


@pytest.fixture
def queues(moto_endpoint: str) -> tuple[Any, str, str]:
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
    dlq = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue = sqs.create_queue(QueueName=f"jobs-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return sqs, dlq, queue


def outputs_file(tmp_path: Path, moto_endpoint: str, dlq: str, queue: str) -> Path:
    outputs: dict[str, Any] = {key: "unused" for key in STACK_OUTPUT_KEYS}
    outputs |= {"dlq_url": dlq, "jobs_queue_url": queue, "aws_endpoint_url": moto_endpoint, "region": REGION}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def drain(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies.extend(m["Body"] for m in batch)
    return bodies


def test_redrive_moves_every_message_once(
    queues: tuple[Any, str, str], moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, dlq, queue = queues
    bodies = [json.dumps({"jobId": "a" * 32, "index": i}) for i in range(23)]
    for body in bodies:
        sqs.send_message(QueueUrl=dlq, MessageBody=body)
    path = outputs_file(tmp_path, moto_endpoint, dlq, queue)
    assert main(["jobs", "redrive", "--outputs", str(path), "--max", "20"]) == 0
    assert json.loads(capsys.readouterr().out) == {"moved": 20}
    assert main(["jobs", "redrive", "--outputs", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"moved": 3}
    assert sorted(drain(sqs, queue)) == sorted(bodies)
    assert drain(sqs, dlq) == []


def test_redrive_refuses_bad_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "outputs.json"
    path.write_text("{}")
    assert main(["jobs", "redrive", "--outputs", str(path)]) == 2
    assert "missing stack outputs" in capsys.readouterr().err
