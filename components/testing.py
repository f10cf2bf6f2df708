"""Run Pulumi code under ``pulumi.runtime.set_mocks`` and hand back the registered resource graph.

Tests assert over the real graph the program registers (types, names, inputs, parents), so a missing
or mis-wired resource fails them. The mocks fabricate what AWS would compute (``arn``, ``invokeArn``,
``executionArn``, ``apiEndpoint``, a bucket's name from its prefix, a queue's URL) from the inputs, so references
between resources can be followed in the assertions. See ../shared/PLATFORM.md for the mock API's
pitfalls this module works around (``call`` returns a dict, assertions only after the run).
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

ACCOUNT = "123456789012"
_RUNS = itertools.count()


@dataclass
class Registered:
    """One resource as the program registered it: wire (camelCase) inputs and the mocked state."""

    typ: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    custom: bool
    id: str = ""
    urn: str = ""
    dependencies: tuple[str, ...] = ()  # URNs it waits for: explicit depends_on and inputs from other resources
    protect: bool = False  # resource options: Pulumi refuses to delete it...
    retain_on_delete: bool = False  # ...or leaves it in the cloud when it leaves the program

    def depends_on(self, other: Registered) -> bool:
        return other.urn in self.dependencies

    @property
    def parent_type(self) -> str | None:
        """Type of the parent resource (the mock monitor's URNs carry only the immediate parent's type)."""
        chain = self.urn.split("::")[2].split("$")[:-1] if self.urn else []
        chain = [t for t in chain if t != "pulumi:pulumi:Stack"]
        return chain[-1] if chain else None


@dataclass
class Graph:
    resources: list[Registered]
    outputs: Any = None
    by_id: dict[str, Registered] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str) -> Registered:
        found = [r for r in self.resources if r.typ == typ and r.name == name]
        if len(found) != 1:
            names = sorted(r.name for r in self.of_type(typ))
            raise AssertionError(f"expected one {typ} named {name!r}, found {len(found)}; {typ} names: {names}")
        return found[0]

    def counts(self) -> Counter[str]:
        return Counter(r.typ for r in self.resources)

    def by_arn(self, arn: str) -> Registered:
        found = [r for r in self.resources if r.state.get("arn") == arn]
        if len(found) != 1:
            raise AssertionError(f"expected one resource with arn {arn!r}, found {len(found)}")
        return found[0]


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every registration and fabricates the outputs AWS would compute."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        resource_id = f"{args.name}-id"
        state.update(self._computed(args.typ, args.name, state, resource_id))
        resource_id = state.pop("_id", resource_id)
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), state, bool(args.custom), resource_id))
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        """The program makes no provider calls; a plain dict is what the SDK accepts (PLATFORM.md)."""
        return {}

    def _computed(self, typ: str, name: str, state: dict[str, Any], resource_id: str) -> dict[str, Any]:
        region, account = self.region, ACCOUNT
        given = state.get("name") or name
        if typ == "aws:s3/bucket:Bucket":
            bucket = f"{state.get('bucketPrefix', name)}20261125000000000000000001"
            return {"_id": bucket, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
        if typ == "aws:dynamodb/table:Table":
            return {"arn": f"arn:aws:dynamodb:{region}:{account}:table/{given}"}
        if typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{region}:{account}:function:{given}"
            invoke = f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
            version = "1" if state.get("publish") else "$LATEST"
            return {
                "arn": arn,
                "invokeArn": invoke,
                "name": given,
                "version": version,
                "qualifiedArn": f"{arn}:{version}",
            }
        if typ == "aws:lambda/alias:Alias":
            arn = f"arn:aws:lambda:{region}:{account}:function:{state['functionName']}:{given}"
            invoke = f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
            return {"arn": arn, "invokeArn": invoke, "name": given}
        if typ == "aws:lambda/layerVersion:LayerVersion":
            return {"arn": f"arn:aws:lambda:{region}:{account}:layer:{state.get('layerName', name)}:1"}
        if typ == "aws:iam/role:Role":
            return {"_id": f"{name}-0000001", "name": f"{name}-0000001", "arn": f"arn:aws:iam::{account}:role/{name}"}
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            return {"arn": f"arn:aws:logs:{region}:{account}:log-group:{given}"}
        if typ == "aws:cloudwatch/eventRule:EventRule":
            return {"arn": f"arn:aws:events:{region}:{account}:rule/{given}", "name": given}
        if typ == "aws:sqs/queue:Queue":
            url = f"https://sqs.{region}.amazonaws.com/{account}/{given}"
            return {"_id": url, "url": url, "arn": f"arn:aws:sqs:{region}:{account}:{given}", "name": given}
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            return {"arn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{given}"}
        if typ == "aws:sns/topic:Topic":
            return {"arn": f"arn:aws:sns:{region}:{account}:{given}", "name": given}
        if typ == "aws:lambda/eventSourceMapping:EventSourceMapping":
            return {"_id": f"{name}-uuid", "uuid": f"{name}-uuid"}
        if typ == "aws:apigatewayv2/api:Api":
            api_id = f"api{abs(hash(name)) % 10**7:07d}"
            return {
                "_id": api_id,
                "executionArn": f"arn:aws:execute-api:{region}:{account}:{api_id}",
                "apiEndpoint": f"https://{api_id}.execute-api.{region}.amazonaws.com",
            }
        return {"arn": f"arn:aws:mock:{region}:{account}:{typ}/{resource_id}"}


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, also keeping what ``new_resource`` does not see: dependencies and protect options."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[tuple[str, str], tuple[str, ...]] = {}
        self.options: dict[tuple[str, str], tuple[bool, bool]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        self.dependencies[(request.type, request.name)] = tuple(request.dependencies)
        self.options[(request.type, request.name)] = (bool(request.protect), bool(request.retainOnDelete))
        return super().RegisterResource(request)


def stringify_config(config: Mapping[str, Any]) -> dict[str, str]:
    """The engine passes structured config values as JSON strings; do the same."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}


def run_pulumi(body: Callable[[], Any], *, stack: str, config: Mapping[str, Any], project: str = "fhr") -> Graph:
    """Run ``body`` as a Pulumi program under mocks; return every registered resource and its result.

    ``config`` holds namespaced keys (``fhr:api``, ``aws:region``) with YAML-parsed values. Exceptions
    from ``body`` propagate, so tests can assert on a rejected configuration.
    """
    mocks = RecordingMocks(str(config.get("aws:region", "eu-west-1")))
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(stringify_config(config))
    captured: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        return pulumi.Output.from_input(body()).apply(lambda value: captured.update(result=value))

    program()
    urns = {_type_and_name(urn): urn for urn in monitor.get_registered_resources()}
    for resource in mocks.resources:
        resource.urn = urns.get((resource.typ, resource.name), "")
        resource.dependencies = monitor.dependencies.get((resource.typ, resource.name), ())
        resource.protect, resource.retain_on_delete = monitor.options.get((resource.typ, resource.name), (False, False))
    graph = Graph(mocks.resources, captured.get("result"))
    graph.by_id = {r.id: r for r in mocks.resources}
    return graph


def run_program(program: Path, *, stack: str, config: Mapping[str, Any], bundle_dir: Path) -> Graph:
    """Execute the Pulumi program file (``__main__.py``) once for ``stack``; its ``outputs`` become the result."""

    def body() -> Any:
        spec = importlib.util.spec_from_file_location(f"fhr_program_{stack}_{next(_RUNS)}", program)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.outputs

    with _environ("FHR_BUNDLE_DIR", str(bundle_dir)):
        return run_pulumi(body, stack=stack, config=config)


def stack_file_config(path: Path) -> dict[str, Any]:
    """The ``config:`` mapping of a ``Pulumi.<stack>.yaml`` file, values as YAML parsed them."""
    import yaml

    return dict((yaml.safe_load(path.read_text()) or {}).get("config") or {})


def _type_and_name(urn: str) -> tuple[str, str]:
    parts = urn.split("::")
    return parts[2].split("$")[-1], parts[3]


@contextlib.contextmanager
def _environ(key: str, value: str) -> Iterator[None]:
    previous = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous
