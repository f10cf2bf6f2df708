"""The embedded local cloud: one app definition + one stack file -> moto, Lambda, HTTP API, schedules.

Everything is derived, nothing is listed twice: functions, routes and resources come from
:mod:`fhrapp.definition`; memory, timeout, reserved concurrency, throttling, CORS, auth and the
keep-warm schedule come from the stack's :class:`~fhrapp.config.StackConfig` (``Pulumi.<stack>.yaml``).

Start-up is ordered for time to ready: the moto server starts and the resources are created in a
thread while the Lambda service, the front door and (in JWT mode) the local issuer start on the loop.
No worker process is spawned at start: the first invocation of a function is its cold start. As
``pulumi up`` does, each function gets a published version behind the ``live`` alias, which the front
door, the keep-warm schedule and the queue pollers invoke; a ``snapStart`` function's version is
initialised once, at start, and its environments are restored from that snapshot.

Every AWS behaviour the local cloud emulates is on by default (docs/FIDELITY.md lists them): frozen,
sandboxed execution environments with an AWS-like lifecycle, Pulumi-style bucket names, Lambda's 4 KB
environment limit checked at start on the environment ``pulumi up`` would send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fhrapp.config import ConfigError, StackConfig
from fhrapp.definition import (
    APP,
    SERVING_ALIAS,
    AppDefinition,
    Function,
    dashboard_name,
    function_environment,
    physical_name,
    warm_payload,
)
from localcloud.frontdoor import CorsPolicy, FrontDoor, RouteTarget, TokenBucket
from localcloud.moto import DUMMY_CREDENTIALS, MotoServer
from localcloud.resources import (
    PlannedResource,
    aws_queue_url,
    create_resources,
    delete_resources,
    plan_resources,
    queue_arn,
    resource_values,
    unique_suffix,
)
from localcloud.scheduler import Clock, Job, Scheduler, WallClock, parse_schedule

if TYPE_CHECKING:
    from localcloud.eventsource import QueuePoller
    from localcloud.jwt import LocalIssuer
    from localcloud.lambda_service import LambdaService
    from localcloud.lambda_service.lifecycle import Lifecycle
    from localcloud.lambda_service.sandbox import SandboxMode
    from localcloud.s3gate import S3Gate

log = logging.getLogger("localcloud")

REPO_ROOT = Path(__file__).resolve().parent.parent
# Who the local issuer's tokens name unless asked otherwise (in ``sub`` and in the stack's tenant claim).
LOCAL_SUBJECT = "local-developer"


@dataclass
class LocalCloudOptions:
    """Knobs that are local-only (the stack file holds everything a deployment also has)."""

    host: str = "127.0.0.1"
    port: int = 0
    code_root: Path = REPO_ROOT
    worker_cap: int | None = None
    integration_timeout_s: float = 30.0
    clock: Clock = field(default_factory=WallClock)
    schedules: bool = True
    event_sources: bool = True
    log_sink: Callable[[str, str], None] | None = None  # (function name, START/END/REPORT line)
    # AWS behaviours of the local Lambda service (see localcloud.lambda_service); None = AWS-like defaults.
    lifecycle: Lifecycle | None = None
    freeze: bool = True
    sandbox: SandboxMode = "auto"


def local_endpoints(aws_endpoint: str, lambda_endpoint: str) -> dict[str, str]:
    """What only the local cloud gives a function (AWS provides the real ones itself): its endpoints
    and dummy credentials. Not part of the function's configuration, so not counted toward 4 KB."""
    return {
        "AWS_ENDPOINT_URL_S3": aws_endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": aws_endpoint,
        "AWS_ENDPOINT_URL_SQS": aws_endpoint,
        "AWS_ENDPOINT_URL_LAMBDA": lambda_endpoint,
        **DUMMY_CREDENTIALS,
    }


def check_environment_sizes(app: AppDefinition, stack: StackConfig, plans: list[PlannedResource]) -> None:
    """Refuse, as ``pulumi up`` would fail, a function whose deployed environment is over Lambda's 4 KB.

    Measured on what Pulumi sends (:func:`fhrapp.definition.function_environment` with AWS's queue URLs,
    longer than moto's), so a stack that starts here also deploys."""
    from localcloud.lambda_service import InvalidParameterValue
    from localcloud.lambda_service.spec import validate_environment

    deployed = {
        plan.resource.logical: aws_queue_url(stack.region, plan.name) if plan.kind == "queue" else plan.name
        for plan in plans
    }
    for fn in app.functions:
        try:
            validate_environment(function_environment(app, fn, stack.stage, deployed, stack.auth.tenancy))
        except InvalidParameterValue as exc:
            raise ConfigError(f"functions.{fn.name}", stack.source, f"cannot deploy: {exc.message}") from None


def hands_out_uploads(fn: Function) -> bool:
    """A function granted ``s3:PutObject`` hands browsers presigned URLs (web: uploads; fhr, worker: result links),
    so its S3 endpoint is the gate, which enforces their expiry and refuses SigV2."""
    return any("s3:PutObject" in grant.actions for grant in fn.grants)


def free_port(host: str) -> int:
    """A port the OS reports free now (the short race with another binder is acceptable locally)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalCloud:
    """Start, describe and stop the whole local stack; use as ``async with LocalCloud(stack) as cloud``."""

    def __init__(self, stack: StackConfig, app: AppDefinition = APP, options: LocalCloudOptions | None = None) -> None:
        self.stack = stack
        self.app = app
        self.options = options or LocalCloudOptions()
        self.plans = plan_resources(app, stack, bucket_suffix=unique_suffix())
        check_environment_sizes(app, stack, self.plans)
        self.moto = MotoServer(self.options.host)
        self.lambdas: LambdaService | None = None
        self.front_door: FrontDoor | None = None
        self.scheduler: Scheduler | None = None
        self.issuer: LocalIssuer | None = None
        self._issuer_runner: Any = None
        self.issuer_url: str | None = None
        self.started_at: float | None = None
        self.ready_s: float | None = None
        self._created: list[PlannedResource] = []
        self.pollers: list[QueuePoller] = []
        self.s3_gate: S3Gate | None = None
        self.s3_gate_url: str | None = None
        self.fired: list[tuple[str, Any, Any]] = []  # (rule, scheduled time, InvokeResult) per keep-warm firing

    def function_name(self, logical: str) -> str:
        return physical_name(self.app.name, self.stack.stage, logical)

    def served_name(self, logical: str) -> str:
        """What callers invoke: the function's serving alias, as the deployed API, rules and mappings do."""
        return f"{self.function_name(logical)}:{SERVING_ALIAS}"

    @property
    def default_tenant(self) -> str:
        """The tenant of a caller without a chosen identity: the open tenant, or the issuer's default token's."""
        from handlers.api.tenancy import tenant_id

        auth = self.stack.auth
        return auth.open_tenant if auth.mode == "open" else tenant_id(LOCAL_SUBJECT)

    async def __aenter__(self) -> LocalCloud:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> dict[str, Any]:
        self.started_at = time.monotonic()
        # Endpoints go into every function's environment, so both ports are chosen before either starts.
        self.moto.port = free_port(self.options.host)
        lambda_port = free_port(self.options.host)
        if any(hands_out_uploads(fn) for fn in self.app.functions):
            self.s3_gate_url = f"http://{self.options.host}:{free_port(self.options.host)}"
        try:
            moto_ready = asyncio.create_task(asyncio.to_thread(self._start_moto))
            await self._start_s3_gate()
            await self._start_lambda_service(lambda_port)
            await self._start_issuer()
            await self._start_front_door()
            await moto_ready
        except BaseException:
            await self.stop()
            raise
        self._start_schedules()
        await self._start_event_sources()
        self.ready_s = time.monotonic() - self.started_at
        return self.outputs()

    def _start_moto(self) -> None:
        endpoint = self.moto.start()
        self._created = self.plans  # set first: a half-made set is cleaned up too
        create_resources(self.plans, endpoint, self.stack.region)

    def _stop_moto(self) -> None:
        if self._created and self.moto.running:
            delete_resources(self._created, self.moto.url, self.stack.region)
        self._created = []
        self.moto.stop()

    async def _start_s3_gate(self) -> None:
        """moto accepts any browser form POST; the gate checks presigned POST policies as S3 does."""
        if self.s3_gate_url is None:
            return
        from localcloud.s3gate import S3Gate

        # Buckets made since mid-2020 refuse SigV2, so the stack's never accepts it (no legacy buckets here).
        gate = S3Gate(
            self.moto.url, {DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"]: DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
        )
        self.s3_gate = gate
        await gate.start(self.options.host, int(self.s3_gate_url.rsplit(":", 1)[1]))

    async def _start_lambda_service(self, port: int) -> None:
        from localcloud.lambda_service import FunctionSpec, LambdaService

        lambda_url = f"http://{self.options.host}:{port}"
        specs = [self._function_spec(FunctionSpec, fn, lambda_url) for fn in self.app.functions]
        self.lambdas = LambdaService(
            specs,
            host=self.options.host,
            port=port,
            worker_cap=self.options.worker_cap,
            region=self.stack.region,
            log_sink=self.options.log_sink,
            freeze=self.options.freeze,
            lifecycle=self.options.lifecycle,
            sandbox=self.options.sandbox,
        )
        await self.lambdas.start()
        for fn in self.app.functions:  # as a deploy: a version, and the serving alias on it
            version = self.lambdas.publish_version(self.function_name(fn.name))["Version"]
            self.lambdas.put_alias(self.function_name(fn.name), SERVING_ALIAS, version, None, create=True)

    def _function_spec(self, spec_type: Any, fn: Function, lambda_url: str) -> Any:
        config = self.stack.functions.get(fn.name)
        if config is None:  # only another app than the stack's (``fhr local --app``): definition sizing
            log.warning("%s is not in %s: definition's memory/timeout, unreserved", fn.name, self.stack.source)
        return spec_type(
            name=self.function_name(fn.name),
            handler=fn.handler,
            memory_mb=config.memory_mb if config else fn.memory_mb,
            timeout_s=config.timeout_s if config else fn.timeout_s,
            reserved_concurrency=config.reserved_concurrency if config else None,
            environment=function_environment(self.app, fn, self.stack.stage, self._values(), self.stack.auth.tenancy),
            local_environment=self._local_environment(fn, lambda_url),
            code_root=self.options.code_root,
            ephemeral_storage_mb=config.ephemeral_storage_mb if config else 512,
            snap_start=config.snap_start if config else False,
        )

    def _values(self) -> dict[str, str]:
        return resource_values(self.plans, self.moto.url)

    def _local_environment(self, fn: Function, lambda_url: str) -> dict[str, str]:
        env = local_endpoints(self.moto.url, lambda_url)
        if self.s3_gate_url is not None and hands_out_uploads(fn):
            env["AWS_ENDPOINT_URL_S3"] = self.s3_gate_url  # its presigned POSTs point browsers at the gate
        return env

    async def _start_issuer(self) -> None:
        if self.stack.auth.mode != "jwt":
            return
        from aiohttp import web

        from localcloud.jwt import LocalIssuer

        auth = self.stack.auth
        assert auth.issuer is not None
        default_claims = {"sub": LOCAL_SUBJECT, auth.tenant_claim: LOCAL_SUBJECT}
        issuer = await asyncio.to_thread(LocalIssuer, auth.issuer, auth.audience, self.app.scopes, default_claims)
        self.issuer = issuer
        app = web.Application()

        async def jwks(_: web.Request) -> web.Response:
            return web.json_response(issuer.jwks)

        app.router.add_get("/.well-known/jwks.json", jwks)
        app.router.add_post("/token", self._mint_token)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.options.host, 0)
        await site.start()
        self._issuer_runner = runner
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.issuer_url = f"http://{self.options.host}:{port}"

    async def _mint_token(self, request: Any) -> Any:
        """``POST /token`` with optional JSON claims (and ``ttl_s``) -> ``{"token": ...}`` (dev only).

        Without a ``scope`` claim the token holds every scope of the app's routes; send ``"scope"``
        (space-separated) to mint one with fewer, as an identity provider's client with fewer grants."""
        from aiohttp import web

        assert self.issuer is not None
        body = await request.json() if request.can_read_body else {}
        if not isinstance(body, dict):
            return web.json_response({"message": "body must be a JSON object of claims"}, status=400)
        ttl = body.pop("ttl_s", None)
        token = self.issuer.mint(body, ttl_s=int(ttl)) if ttl is not None else self.issuer.mint(body)
        return web.json_response({"token": token, "token_type": "Bearer"})

    async def _start_front_door(self) -> None:
        from localcloud.jwt import JwtAuthorizer

        api = self.stack.api
        methods = sorted({r.method for r in self.app.routes} | {"OPTIONS"})
        authorizer = None
        if self.issuer is not None:
            authorizer = JwtAuthorizer(self.issuer.issuer, self.issuer.audience, self.issuer.jwks)
        assert self.lambdas is not None
        self.front_door = FrontDoor(
            [RouteTarget(r.method, r.path, self.served_name(r.function), r.public, r.scopes) for r in self.app.routes],
            self.lambdas,
            throttle=TokenBucket(api.throttle_burst, api.throttle_rate),
            cors=CorsPolicy(api.cors_origins, tuple(methods)) if api.cors_origins else None,
            authorizer=authorizer,
            host=self.options.host,
            port=self.options.port,
            integration_timeout_s=self.options.integration_timeout_s,
            api_id=f"local-{self.stack.stage}",
        )
        await self.front_door.start()

    def _start_schedules(self) -> None:
        if not self.options.schedules:
            return
        warm = self.stack.keep_warm
        clock = self.options.clock
        jobs = [
            Job(
                name=f"{self.function_name(fn.name)}-keep-warm",
                schedule=parse_schedule(warm.schedule, origin=clock.now()),
                callback=self._warm_target(self.served_name(fn.name), warm.concurrency),
            )
            for fn in (self.app.warmed_functions if warm.enabled else ())
        ]
        jobs += [
            Job(
                name=self.function_name(task.name),
                schedule=parse_schedule(task.expression, origin=clock.now()),
                callback=self._event_target(self.served_name(task.function), task.payload),
            )
            for task in self.app.schedules
        ]
        if not jobs:
            return
        self.scheduler = Scheduler(jobs, clock)
        self.scheduler.start()

    async def _start_event_sources(self) -> None:
        """One poller set per queue-triggered function, as Lambda's SQS event source mapping."""
        from localcloud.eventsource import QueueMapping, QueuePoller

        if not self.options.event_sources:
            return
        assert self.lambdas is not None
        values = self._values()
        for fn in self.app.functions:
            if fn.trigger is None:
                continue
            name = physical_name(self.app.name, self.stack.stage, fn.trigger.queue)
            arn = queue_arn(self.stack.region, name)
            mapping = QueueMapping(
                values[fn.trigger.queue], arn, self.served_name(fn.name), fn.trigger, self.stack.region
            )
            poller = QueuePoller(mapping, self.lambdas, self.moto.url)
            await poller.start()
            self.pollers.append(poller)

    def _warm_target(self, function_name: str, concurrency: int) -> Any:
        import json

        payload = json.dumps(warm_payload(concurrency)).encode()

        async def fire(rule: str, due: Any) -> None:
            assert self.lambdas is not None
            result = await self.lambdas.invoke(function_name, payload, invocation_type="Event")
            self.fired.append((rule, due, result))
            log.info("keep-warm %s -> %s (%s)", rule, function_name, getattr(result, "status_code", "?"))

        return fire

    def _event_target(self, function_name: str, event: Mapping[str, Any]) -> Any:
        import json

        payload = json.dumps(dict(event)).encode()

        async def fire(rule: str, due: Any) -> None:
            assert self.lambdas is not None
            result = await self.lambdas.invoke(function_name, payload, invocation_type="Event")
            self.fired.append((rule, due, result))

        return fire

    def outputs(self) -> dict[str, Any]:
        """``pulumi stack output --json``'s shape, plus the local endpoints."""
        assert self.front_door is not None and self.lambdas is not None
        outputs: dict[str, Any] = {"api_url": self.front_door.url}
        values = self._values()
        for resource in self.app.resources:
            outputs[self.app.output_key(resource)] = values[resource.logical]
        outputs |= {
            "functions": {fn.name: self.function_name(fn.name) for fn in self.app.functions},
            "region": self.stack.region,
            "stage": self.stack.stage,
            "dashboard_name": dashboard_name(self.app.name, self.stack.stage),
            "aws_endpoint_url": self.moto.url,
            "lambda_endpoint_url": self.lambdas.url,
        }
        if self.issuer_url is not None:
            outputs["local_issuer_url"] = self.issuer_url
        return outputs

    async def stop(self) -> None:
        """Stop everything started, in reverse order; safe to call twice or after a failed start."""
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None
        for poller in self.pollers:
            await poller.stop()
        self.pollers.clear()
        if self.front_door is not None:
            await self.front_door.stop()
            self.front_door = None
        if self.s3_gate is not None:
            await self.s3_gate.stop()
            self.s3_gate = None
        if self._issuer_runner is not None:
            await self._issuer_runner.cleanup()
            self._issuer_runner = None
        if self.lambdas is not None:
            with contextlib.suppress(Exception):
                await self.lambdas.stop()
            self.lambdas = None
        await asyncio.to_thread(self._stop_moto)


def environment_of(outputs: Mapping[str, Any]) -> dict[str, str]:
    """Environment for a client process (boto3, aws CLI) talking to this local cloud."""
    return {
        "AWS_ENDPOINT_URL": str(outputs["aws_endpoint_url"]),
        "AWS_ENDPOINT_URL_LAMBDA": str(outputs["lambda_endpoint_url"]),
        "AWS_REGION": str(outputs["region"]),
        "AWS_DEFAULT_REGION": str(outputs["region"]),
        **DUMMY_CREDENTIALS,
    }
