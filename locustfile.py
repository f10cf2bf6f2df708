"""Locust load test for the FHR service (seed 003's tool), driven by the same stack outputs as ``fhr loadtest``.

Usage (local cloud, headless, 50 users for one minute)::

    fhr local --seed-data --outputs-file out/local.json &
    FHR_STACK_OUTPUTS=out/local.json locust -f locustfile.py --headless -u 50 -r 10 -t 1m
    FHR_STACK_OUTPUTS=out/local.json locust -f locustfile.py --headless -u 10 -r 10 -t 2m --tags items

Against a deployed stage: ``pulumi stack output --json > outputs.json`` and point ``FHR_STACK_OUTPUTS`` at
it. The host defaults to the outputs' ``api_url`` (``--host`` overrides it). Environment:

- ``FHR_STACK_OUTPUTS`` (required): the outputs JSON file.
- ``FHR_KEYS`` (comma-separated S3 keys) or ``FHR_KEYS_FILE`` (one per line); otherwise every record key
  under the caller's own ``tenants/<tenant>/`` in the stack's bucket is listed (``FHR_KEYS_PREFIX``,
  relative to it, default all; the API's ``GET /recordings`` says which prefix is the caller's).
- ``FHR_TOKEN``: a bearer JWT for stacks whose auth mode is ``jwt``.
- ``FHR_BATCH_SIZE``: filenames per ``POST /fhr/batch`` (default 10).

Tasks, tagged for ``--tags``/``--exclude-tags``: ``fhr`` (``GET /fhr?filename=s3://…``, seed 000's
request, weight 10), ``items`` (the DynamoDB manager's ``list``, seeds 002/004, weight 3), ``batch``
(weight 1). The requests are built by ``loadgen.targets``, the module ``fhr loadtest`` uses, so both
tools send byte-for-byte the same requests. A ``202`` (a long record deferred to a job) counts as a
success; responses carrying ``x-fhr-cold-start: true`` are counted and printed at the end.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, tag, task

from loadgen.engine import Request
from loadgen.outputs import StackOutputs, load_outputs
from loadgen.targets import batch_requests, fhr_requests, items_requests, list_keys, read_keys_file

COLD_STARTS = {"count": 0}


def stack_outputs() -> StackOutputs:
    path = os.environ.get("FHR_STACK_OUTPUTS")
    if not path:
        raise SystemExit("locustfile: set FHR_STACK_OUTPUTS to the stack outputs JSON (fhr local --outputs-file)")
    return load_outputs(path)


def record_keys(outputs: StackOutputs) -> list[str]:
    """Keys from FHR_KEYS, FHR_KEYS_FILE, or a listing of the caller's own prefix in the stack's bucket
    (``FHR_KEYS_PREFIX`` relative to ``tenants/<tenant>/``)."""
    if os.environ.get("FHR_KEYS"):
        return [key.strip() for key in os.environ["FHR_KEYS"].split(",") if key.strip()]
    if os.environ.get("FHR_KEYS_FILE"):
        return read_keys_file(Path(os.environ["FHR_KEYS_FILE"]))
    return list_keys(outputs, os.environ.get("FHR_KEYS_PREFIX", ""), os.environ.get("FHR_TOKEN"))


class FhrApiUser(HttpUser):
    """One client of the API: mostly FHR requests, some item listings, an occasional batch."""

    wait_time = between(0.0, 0.5)
    outputs: StackOutputs | None = None
    keys: list[str] = []

    def on_start(self) -> None:
        cls = type(self)
        if cls.outputs is None:  # read once per process, not once per simulated user
            cls.outputs = stack_outputs()
            cls.keys = record_keys(cls.outputs)
        self.token = os.environ.get("FHR_TOKEN")
        self.batch_size = int(os.environ.get("FHR_BATCH_SIZE", "10"))

    def _send(self, request: Request, name: str) -> None:
        with self.client.request(
            request.method, request.url, data=request.body, headers=request.headers, name=name, catch_response=True
        ) as response:
            if response.headers.get("x-fhr-cold-start") == "true":
                COLD_STARTS["count"] += 1
            if response.status_code in (200, 202):
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")

    @tag("fhr")
    @task(10)
    def fhr(self) -> None:
        assert self.outputs is not None
        (request,) = fhr_requests(self.outputs, [random.choice(self.keys)], self.token)
        self._send(request, "GET /fhr")

    @tag("items")
    @task(3)
    def items_list(self) -> None:
        assert self.outputs is not None
        (request,) = items_requests(self.outputs, self.token)
        self._send(request, "POST /DynamoDBManager list")

    @tag("batch")
    @task(1)
    def batch(self) -> None:
        assert self.outputs is not None
        chosen = random.sample(self.keys, min(self.batch_size, len(self.keys)))
        (request,) = batch_requests(self.outputs, chosen, self.token)
        self._send(request, "POST /fhr/batch")


@events.init.add_listener
def _default_host(environment: Any, **_kwargs: Any) -> None:
    """``--host`` wins; otherwise the stack's ``api_url``."""
    if not environment.host and os.environ.get("FHR_STACK_OUTPUTS"):
        environment.host = stack_outputs().api_url


@events.test_stop.add_listener
def _report_cold_starts(**_kwargs: Any) -> None:
    print(f"cold starts seen (x-fhr-cold-start: true): {COLD_STARTS['count']}")
