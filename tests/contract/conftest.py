"""The contract suite's target: the local cloud by default, a deployed stage when told.

- Default: ``fhr local --stack $FHR_LOCAL_STACK (dev) --port 0 --outputs-file <tmp>`` runs as a
  subprocess for the session (the same command a developer runs), and is stopped with SIGTERM after.
- ``FHR_STACK_OUTPUTS=outputs.json`` (from ``pulumi stack output --json > outputs.json``): the same
  tests run against that deployed stage. Uploads use the default AWS credentials; when the stage's
  auth mode is ``jwt``, ``FHR_TOKEN`` must hold a token from the stage's issuer. The file of an
  already running ``fhr local --outputs-file F`` works too (its ``aws_endpoint_url`` marks it local).

Either way the tests only use what a client has: the outputs file, HTTP, and S3 uploads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fhrapp.config import StackConfig, load_stack_file
from localcloud.launcher import LaunchError, local_cloud
from localcloud.outputs import load

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Target:
    """What the tests talk to: the outputs, the stack config behind them, and how to authorize."""

    outputs: dict[str, Any]
    stack: StackConfig
    local: bool
    token: str | None

    @property
    def api_url(self) -> str:
        return str(self.outputs["api_url"]).rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def s3(self) -> Any:
        import boto3

        if self.local:
            return boto3.client(
                "s3",
                endpoint_url=self.outputs["aws_endpoint_url"],
                region_name=self.outputs["region"],
                aws_access_key_id="local",
                aws_secret_access_key="local",
            )
        return boto3.client("s3", region_name=self.outputs["region"])


def _local_token(outputs: dict[str, Any]) -> str | None:
    if "local_issuer_url" not in outputs:
        return None
    import urllib.request

    request = urllib.request.Request(f"{outputs['local_issuer_url']}/token", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    given = os.environ.get("FHR_STACK_OUTPUTS")
    if given:
        outputs = load(given)
        stack = load_stack_file(outputs["stage"])
        token = os.environ.get("FHR_TOKEN")
        if stack.auth.mode == "jwt" and not token and "local_issuer_url" not in outputs:
            pytest.fail(f"stage {outputs['stage']} uses JWT auth: set FHR_TOKEN to a token from {stack.auth.issuer}")
        yield Target(outputs, stack, local="aws_endpoint_url" in outputs, token=token or _local_token(outputs))
        return
    workdir = tmp_path_factory.mktemp("local-cloud")
    try:
        with local_cloud(workdir, os.environ.get("FHR_LOCAL_STACK", "dev")) as outputs:
            yield Target(outputs, load_stack_file(outputs["stage"]), local=True, token=_local_token(outputs))
    except LaunchError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def seeded_record(target: Target, set_a_dir: Path) -> str:
    """``s3://<bucket>/contract/a01.hea`` (+ .dat), uploaded as a client would."""
    client = target.s3()
    for suffix in (".hea", ".dat"):
        body = (set_a_dir / f"a01{suffix}").read_bytes()
        client.put_object(Bucket=target.outputs["ecg_bucket"], Key=f"contract/a01{suffix}", Body=body)
    return f"s3://{target.outputs['ecg_bucket']}/contract/a01.hea"
