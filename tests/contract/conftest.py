"""The contract suite's target: the local cloud of both stacks by default, a deployed stage when told.

- Default: ``fhr local --stack <stack> --port 0 --outputs-file <tmp>`` runs as a subprocess (the same
  command a developer runs), once for ``dev`` (open) and once for ``prod`` (JWT, the local cloud as
  issuer), each stopped with SIGTERM after its tests; ``FHR_LOCAL_STACK=dev`` runs one stack only.
- ``FHR_STACK_OUTPUTS=outputs.json`` (from ``pulumi stack output --json > outputs.json``): the same
  tests run against that deployed stage. Uploads use the default AWS credentials; when the stage's
  auth mode is ``jwt``, ``FHR_TOKEN`` must hold a token from the stage's issuer with every scope of
  the API (fhr/read fhr/write items/read items/write). The file of an already running
  ``fhr local --outputs-file F`` works too (its ``aws_endpoint_url`` marks it local).

Either way the tests only use what a client has: the outputs file, HTTP, and S3 uploads under the
caller's own prefix (``GET /recordings`` says which). Tests marked ``last_per_target`` run after every
other test of their target (``test_logs.py`` greps the whole run's logs for every uploaded file name).

Every response the suite receives from the API goes through :meth:`Target.checked`: its status and body
must be what the stage's OpenAPI document declares (:mod:`apicontract.validate`), or the test fails with
the violation; ``test_openapi.py`` checks at the end that the run covered every operation.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from apicontract.document import stack_document
from apicontract.validate import ResponseChecker
from fhrapp.config import StackConfig, load_stack_file
from localcloud.launcher import LaunchError, local_cloud
from localcloud.outputs import load

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Target:
    """What the tests talk to: the outputs, the stack config behind them, and how to authorize."""

    outputs: dict[str, Any]
    stack: StackConfig
    local: bool
    token: str | None
    log_path: Path | None = None  # the local cloud's log, when this suite runs it
    uploaded_names: set[str] = field(default_factory=set)  # file names uploaded: never to be logged
    checker: ResponseChecker = field(init=False)  # every response against the stage's OpenAPI document

    def __post_init__(self) -> None:
        self.checker = ResponseChecker(stack_document(self.stack.stage, server=self.api_url))

    @property
    def api_url(self) -> str:
        return str(self.outputs["api_url"]).rstrip("/")

    @property
    def issuer_url(self) -> str | None:
        """The local cloud's JWT issuer (prod stack), which mints tokens with chosen claims and scopes."""
        return self.outputs.get("local_issuer_url")

    def auth_headers(self, token: str | None = None) -> dict[str, str]:
        token = token or self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any, Any]:
        """One HTTP call to the API as a client makes it (the default token unless ``token``): status,
        headers, body (JSON when it parses)."""
        import aiohttp

        headers = self.auth_headers(token) | kwargs.pop("headers", {})
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
            session.request(method, self.api_url + path, headers=headers, **kwargs) as response,
        ):
            raw = await response.read()
            return self.checked(method, path, headers, response.status, response.headers, raw)

    def sync(self, method: str, path: str, token: str | None = None, json_body: Any = None) -> tuple[int, Any, Any]:
        """The same call outside an event loop (``urllib``), checked like :meth:`request`."""
        headers = self.auth_headers(token) | ({"Content-Type": "application/json"} if json_body is not None else {})
        data = json.dumps(json_body).encode() if json_body is not None else None
        request = urllib.request.Request(self.api_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return self.checked(method, path, headers, response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return self.checked(method, path, headers, error.code, error.headers, error.read())

    def checked(
        self, method: str, path: str, sent: Mapping[str, str], status: int, headers: Any, raw: bytes
    ) -> tuple[int, Any, Any]:
        """The response as the tests use it (JSON when it parses), once the document allows it."""
        preflight = "Origin" in sent and "Access-Control-Request-Method" in sent
        self.checker.check(method, self.api_url + path, status, headers, raw, preflight=preflight)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        return status, headers, body

    def mint(self, **claims: Any) -> str:
        """A token from the local issuer (``sub``, ``scope``, ...; ``None`` leaves a claim out)."""
        assert self.issuer_url, "only the local cloud of a JWT stack mints tokens"
        return _post_token(self.issuer_url, claims)

    def prefix(self, token: str | None = None) -> str:
        """The caller's own prefix (``tenants/<tenant>/``), as ``GET /recordings`` answers it."""
        status, _, body = self.sync("GET", "/recordings?limit=1", token)
        assert status == 200, (status, body)
        return str(body["prefix"])

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

    def put(self, key: str, body: bytes) -> None:
        """Upload as a client with bucket credentials does (the file name is noted for the log check)."""
        self.uploaded_names.add(key.rsplit("/", 1)[-1])
        self.s3().put_object(Bucket=self.outputs["ecg_bucket"], Key=key, Body=body)


def _post_token(issuer_url: str, claims: dict[str, Any]) -> str:
    request = urllib.request.Request(f"{issuer_url}/token", data=json.dumps(claims).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


def _local_token(outputs: dict[str, Any]) -> str | None:
    """The local issuer's default token: every scope of the API, the default tenant."""
    return _post_token(outputs["local_issuer_url"], {}) if "local_issuer_url" in outputs else None


def _targets() -> list[str]:
    if os.environ.get("FHR_STACK_OUTPUTS"):
        return ["given"]
    if os.environ.get("FHR_LOCAL_STACK"):
        return [os.environ["FHR_LOCAL_STACK"]]
    return ["dev", "prod"]


@pytest.fixture(scope="session", params=_targets())
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if request.param == "given":
        outputs = load(os.environ["FHR_STACK_OUTPUTS"])
        stack = load_stack_file(outputs["stage"])
        token = os.environ.get("FHR_TOKEN")
        if stack.auth.mode == "jwt" and not token and "local_issuer_url" not in outputs:
            pytest.fail(f"stage {outputs['stage']} uses JWT auth: set FHR_TOKEN to a token from {stack.auth.issuer}")
        yield Target(outputs, stack, local="aws_endpoint_url" in outputs, token=token or _local_token(outputs))
        return
    workdir = tmp_path_factory.mktemp(f"local-cloud-{request.param}")
    try:
        with local_cloud(workdir, request.param) as outputs:
            stack, log_path = load_stack_file(outputs["stage"]), workdir / "fhr-local.log"
            yield Target(outputs, stack, local=True, token=_local_token(outputs), log_path=log_path)
    except LaunchError as exc:
        pytest.fail(str(exc))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "target_with(auth=None, mints_tokens=None): generated only for targets with these facts "
        "(auth 'open' or 'jwt'; mints_tokens: the local cloud of a JWT stack, its own issuer)",
    )


def target_facts(param: str) -> dict[str, Any]:
    """What a target is, known before it starts: its stage's auth mode, and whether it mints tokens."""
    if param == "given":
        outputs = load(os.environ["FHR_STACK_OUTPUTS"])
        return {"auth": load_stack_file(outputs["stage"]).auth.mode, "mints_tokens": "local_issuer_url" in outputs}
    mode = load_stack_file(param).auth.mode
    return {"auth": mode, "mints_tokens": mode == "jwt"}  # the local cloud of a JWT stack is its issuer


def _applies(item: pytest.Item, facts: dict[str, dict[str, Any]]) -> bool:
    marker, param = item.get_closest_marker("target_with"), _target_param(item)
    if marker is None or param is None:
        return True
    if param not in facts:
        facts[param] = target_facts(param)
    return all(facts[param][name] == wanted for name, wanted in marker.kwargs.items())


@pytest.hookimpl(trylast=True)  # after pytest grouped the items by target, so no cloud starts twice
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop ``target_with`` tests generated for targets they do not apply to (rather than skip them
    there), then move ``last_per_target`` tests behind the last other test of the same target."""
    facts: dict[str, dict[str, Any]] = {}
    dropped = [item for item in items if not _applies(item, facts)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in set(dropped)]
    for item in [i for i in items if i.get_closest_marker("last_per_target")]:
        param = _target_param(item)
        items.remove(item)
        same = [n for n, other in enumerate(items) if _target_param(other) == param]
        items.insert(same[-1] + 1 if same else len(items), item)


def _target_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("target") if callspec is not None else None


@pytest.fixture(scope="session")
def seeded_record(target: Target, set_a_dir: Path) -> str:
    """``s3://<bucket>/<prefix>contract/<a patient-like name>.hea`` (+ .dat), uploaded as a client would."""
    prefix = target.prefix()
    stem = "Doe_Jane_1984-03-02_week32"  # what a hospital's file names look like: never to be logged
    for suffix in (".hea", ".dat"):
        body = (set_a_dir / f"a01{suffix}").read_bytes()
        if suffix == ".hea":  # the header names its signal file beside it
            body = body.replace(b"a01.dat", f"{stem}.dat".encode()).replace(b"a01 ", f"{stem} ".encode(), 1)
        target.put(f"{prefix}contract/{stem}{suffix}", body)
    return f"s3://{target.outputs['ecg_bucket']}/{prefix}contract/{stem}.hea"
