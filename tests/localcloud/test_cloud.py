"""Stack-driven behaviour of the local cloud: JWT auth, CORS origins, throttling, keep-warm, outputs.

Each test starts a local cloud for the echo app on a variant of the dev stack (the settings a stack
file would give) and talks to it over real HTTP; the echo function runs in real worker processes.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import boto3
import pytest

from fhrapp.config import ApiConfig, AuthConfig, FunctionConfig, KeepWarmConfig, load_stack_file
from fhrapp.definition import APP, physical_name
from localcloud.cloud import LocalCloud, LocalCloudOptions
from localcloud.lambda_service.lifecycle import Lifecycle
from localcloud.outputs import LOCAL_OUTPUT_KEYS, STACK_OUTPUT_KEYS
from localcloud.scheduler import ScaledClock

JWT_AUTH = AuthConfig(mode="jwt", issuer="https://auth.example.org/", audience=("fhr-api",))
ONE_ORIGIN = ApiConfig(throttle_burst=1000, throttle_rate=1000.0, cors_origins=("https://fhr.example.org",))


async def call(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as response:
        return response.status, response.headers, await response.read()


async def token(cloud: LocalCloud, **claims: Any) -> str:
    status, _, body = await call(f"{cloud.issuer_url}/token", "POST", json=claims)
    assert status == 200, body
    return json.loads(body)["token"]


async def test_jwt_mode_accepts_the_local_issuers_tokens_and_rejects_others(cloud_factory: Any) -> None:
    async with cloud_factory({"auth": JWT_AUTH, "api": ONE_ORIGIN}) as cloud:
        url = cloud.outputs()["api_url"] + "/echo"
        good = await token(cloud, sub="alice")
        status, _, body = await call(url, headers={"Authorization": f"Bearer {good}"})
        assert status == 200, body
        jwt_context = json.loads(body)["event"]["requestContext"]["authorizer"]["jwt"]
        assert jwt_context["claims"]["sub"] == "alice"
        assert jwt_context["claims"]["iss"] == "https://auth.example.org/"

        expired = await token(cloud, exp=int(time.time()) - 5)
        wrong_audience = await token(cloud, aud="another-api")
        for header in ({}, {"Authorization": f"Bearer {expired}"}, {"Authorization": f"Bearer {wrong_audience}"}):
            status, _, body = await call(url, headers=header)
            assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})

        # A public route (the web page) needs no token, and its event carries no authorizer
        status, _, body = await call(cloud.outputs()["api_url"] + "/public")
        assert status == 200 and "authorizer" not in json.loads(body)["event"]["requestContext"]

        # Preflight needs no token; an unknown route is 404 before any authorization
        preflight = {"Origin": "https://fhr.example.org", "Access-Control-Request-Method": "GET"}
        assert (await call(url, "OPTIONS", headers=preflight))[0] == 204
        assert (await call(cloud.outputs()["api_url"] + "/nope"))[0] == 404

        jwks_status, _, jwks = await call(f"{cloud.issuer_url}/.well-known/jwks.json")
        assert jwks_status == 200 and json.loads(jwks)["keys"][0]["alg"] == "RS256"


async def test_jwt_routes_with_scopes_admit_a_token_holding_any_of_them_and_pass_claims_as_strings(
    cloud_factory: Any,
) -> None:
    async with cloud_factory({"auth": JWT_AUTH, "api": ONE_ORIGIN}) as cloud:
        url = cloud.outputs()["api_url"] + "/scoped"
        claims = {"sub": "alice", "groups": ["ward-7", "night"], "level": 3, "ok": True, "org": {"id": 1}, "x": None}
        holder = await token(cloud, scope="fhr/read echo/admin", **claims)
        status, _, body = await call(url, headers={"Authorization": f"Bearer {holder}"})
        assert status == 200, body
        jwt_context = json.loads(body)["event"]["requestContext"]["authorizer"]["jwt"]
        assert jwt_context["scopes"] == ["fhr/read", "echo/admin"]
        passed = jwt_context["claims"]
        shown = (passed["groups"], passed["level"], passed["ok"], passed["org"])
        assert shown == ("[ward-7 night]", "3", "true", '{"id":1}')
        assert "x" not in passed and all(isinstance(v, str) for v in passed.values())
        env = json.loads(body)["env"]  # a jwt stack's functions find the tenant in the configured claim
        assert (env["FHR_TENANT_CLAIM"], env["FHR_OPEN_TENANT"]) == ("sub", None)

        for scope in ("fhr/read", "", "echo"):
            lacking = await token(cloud, scope=scope)
            status, headers, body = await call(url, headers={"Authorization": f"Bearer {lacking}"})
            assert (status, json.loads(body)) == (403, {"message": "Forbidden"}), scope
            assert 'error="insufficient_scope"' in headers["www-authenticate"]
            assert 'scope="echo/read echo/admin"' in headers["www-authenticate"]

        # A route without scopes takes any valid token, and its event's scopes are null as API Gateway's
        auth = {"Authorization": f"Bearer {holder}"}
        status, _, body = await call(cloud.outputs()["api_url"] + "/echo", headers=auth)
        assert status == 200 and json.loads(body)["event"]["requestContext"]["authorizer"]["jwt"]["scopes"] is None


async def test_cors_only_for_the_stacks_origins(cloud_factory: Any) -> None:
    async with cloud_factory({"api": ONE_ORIGIN}) as cloud:
        url = cloud.outputs()["api_url"] + "/echo"
        allowed = {"Origin": "https://fhr.example.org", "Access-Control-Request-Method": "POST"}
        status, headers, _ = await call(url, "OPTIONS", headers=allowed)
        assert (status, headers["Access-Control-Allow-Origin"]) == (204, "https://fhr.example.org")
        status, headers, _ = await call(url, "OPTIONS", headers=allowed | {"Origin": "https://evil.example"})
        assert status == 204 and "Access-Control-Allow-Origin" not in headers
        _, headers, _ = await call(url, headers={"Origin": "https://fhr.example.org"})
        assert headers["Access-Control-Allow-Origin"] == "https://fhr.example.org"
        _, headers, _ = await call(url, headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in headers


async def test_requests_beyond_burst_and_rate_are_429(cloud_factory: Any) -> None:
    tight = ApiConfig(throttle_burst=3, throttle_rate=1.0, cors_origins=())
    async with cloud_factory({"api": tight}) as cloud:
        url = cloud.outputs()["api_url"] + "/shape/raw"
        results = await asyncio.gather(*(call(url) for _ in range(12)))
        statuses = [status for status, _, _ in results]
        assert set(statuses) <= {200, 429}
        # 3 tokens of burst plus at most one refill per second of the (sub-second) volley
        assert statuses.count(429) >= 12 - 3 - 2
        assert all(json.loads(body) == {"message": "Too Many Requests"} for s, _, body in results if s == 429)
        await asyncio.sleep(1.2)  # one token refills per second
        assert (await call(url))[0] == 200


async def test_a_throttled_function_is_a_500_as_api_gateway_answers_a_rejected_invocation(
    cloud_factory: Any,
) -> None:
    one = FunctionConfig(memory_mb=256, timeout_s=10, reserved_concurrency=1)
    async with cloud_factory({"functions": {"echo": one, "echo_worker": one}}) as cloud:
        url = cloud.outputs()["api_url"] + "/slow?s=1"
        results = await asyncio.gather(call(url), call(url))
    assert sorted(status for status, _, _ in results) == [200, 500]
    rejected = next(body for status, _, body in results if status == 500)
    assert json.loads(rejected) == {"message": "Internal Server Error"}


async def test_keep_warm_fires_on_the_schedule_with_the_stacks_payload(cloud_factory: Any) -> None:
    warm = KeepWarmConfig(enabled=True, schedule="rate(1 minute)", concurrency=1)
    clock = ScaledClock(speed=300.0)  # a virtual minute every 0.2 s, through the real parser and loop
    async with cloud_factory({"keep_warm": warm}, clock=clock) as cloud:
        async with asyncio.timeout(20):
            while len(cloud.fired) < 2:
                await asyncio.sleep(0.05)
        rules = {rule for rule, _, _ in cloud.fired}
        assert rules == {f"{physical_name('fhrtest', 'dev', 'echo')}-keep-warm"}
        assert all(result.status_code == 202 for _, _, result in cloud.fired)  # async invoke, as EventBridge
        # Each firing ran in a real environment (its REPORT line), which is then warm for the next caller
        assert cloud.lambdas is not None
        name = physical_name("fhrtest", "dev", "echo")
        async with asyncio.timeout(20):
            while sum(line.startswith("REPORT") for line in cloud.lambdas.logs.get(name, ())) < 2:
                await asyncio.sleep(0.05)
        # warm where callers land: the serving alias (the deployed rule, too, targets the alias)
        reply = await cloud.lambdas.invoke(cloud.served_name("echo"), json.dumps({"source": "fhr.keep-warm"}).encode())
        assert reply.function_error is None and reply.cold_start is False


async def test_a_queue_feeds_its_function_with_partial_batch_failures_and_a_dead_letter_queue(
    cloud_factory: Any,
) -> None:
    async with cloud_factory() as cloud:
        outputs = cloud.outputs()
        dead = await asyncio.to_thread(run_queue_scenario, outputs, ["ok-1", "ok-2", "ok-3", "fail-1"])
        batches = list(cloud.pollers[0].batches)
    assert dead == ["fail-1"], batches  # after maxReceiveCount (2) failed deliveries, and only that one
    assert sum(size for size, _ in batches) >= 4 + 1, batches  # every message delivered; the failing one again
    assert all(failed <= 1 for _, failed in batches), batches  # only the failing item was kept each time


def run_queue_scenario(outputs: dict[str, Any], bodies: list[str]) -> list[str]:
    """Send ``bodies``; wait for the queue to drain; return the dead-letter queue's bodies."""
    sqs = boto3.client("sqs", endpoint_url=outputs["aws_endpoint_url"], region_name=outputs["region"])
    queue, dlq = outputs["echo_queue_url"], outputs["echo_dlq_url"]
    for body in bodies:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    deadline = time.monotonic() + 60  # generous: a loaded machine slows the worker's cold start
    dead: list[str] = []
    while time.monotonic() < deadline:
        dead += [m["Body"] for m in sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])]
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        left = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
        if dead and left == 0:
            return dead
    raise AssertionError(f"queue did not drain: {left} left, dead-letter queue holds {dead}")


async def test_presigned_uploads_go_through_the_s3_gate_which_enforces_their_policy(cloud_factory: Any) -> None:
    async with cloud_factory() as cloud:
        outputs = cloud.outputs()
        status, _, body = await call(outputs["api_url"] + "/presign", "POST", json={"key": "r.hea", "max_bytes": 10})
        assert status == 200, body
        post = json.loads(body)
        assert post["url"].startswith(cloud.s3_gate_url)  # the function's S3 endpoint is the gate, not moto
        assert post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
        results = []
        for payload in (b"0123456789", b"0123456789-too-long"):
            form = aiohttp.FormData(post["fields"])
            form.add_field("file", payload, filename="r.hea")
            status, _, answer = await call(post["url"], "POST", data=form)
            results.append((status, answer))
        stored = await asyncio.to_thread(read_object, outputs, "uploads/r.hea")
    assert results[0][0] == 204
    assert results[1][0] == 400 and b"EntityTooLarge" in results[1][1]
    assert stored == b"0123456789"  # the oversize upload was refused, the first one kept


async def test_a_sigv2_upload_is_refused_as_s3_refuses_it_for_buckets_made_since_2020(cloud_factory: Any) -> None:
    async with cloud_factory() as cloud:
        outputs = cloud.outputs()
        request = {"key": "v2.hea", "max_bytes": 10, "signature": "s3"}
        status, _, body = await call(outputs["api_url"] + "/presign", "POST", json=request)
        post = json.loads(body)
        assert "AWSAccessKeyId" in post["fields"] and "signature" in post["fields"]  # botocore's SigV2 form
        form = aiohttp.FormData(post["fields"])
        form.add_field("file", b"0123456789", filename="v2.hea")
        status, _, answer = await call(post["url"], "POST", data=form)
        listed = await asyncio.to_thread(list_keys, outputs)
    assert status == 400 and b"<Code>InvalidRequest</Code>" in answer and b"AWS4-HMAC-SHA256" in answer
    assert "uploads/v2.hea" not in listed


def list_keys(outputs: dict[str, Any]) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=outputs["aws_endpoint_url"], region_name=outputs["region"])
    return [o["Key"] for o in s3.list_objects_v2(Bucket=outputs["ecg_bucket"]).get("Contents", [])]


def read_object(outputs: dict[str, Any], key: str) -> bytes:
    s3 = boto3.client("s3", endpoint_url=outputs["aws_endpoint_url"], region_name=outputs["region"])
    return s3.get_object(Bucket=outputs["ecg_bucket"], Key=key)["Body"].read()


async def test_outputs_have_the_pulumi_shape_and_name_real_resources() -> None:
    stack = load_stack_file("dev")
    async with LocalCloud(stack, APP, LocalCloudOptions(schedules=False)) as cloud:
        outputs = cloud.outputs()
        assert list(outputs) == [
            "api_url",
            "ecg_bucket",
            "results_table",
            "items_table",
            "dlq_url",
            "jobs_queue_url",
            "functions",
            "region",
            "stage",
            "dashboard_name",
            *LOCAL_OUTPUT_KEYS,
        ]
        assert outputs["dashboard_name"] == "fhr-dev-dashboard", "as Pulumi exports it (tests/test_program.py)"
        assert set(STACK_OUTPUT_KEYS) <= set(outputs)
        assert outputs["functions"] == {fn.name: physical_name("fhr", "dev", fn.name) for fn in APP.functions}
        assert (outputs["stage"], outputs["region"]) == ("dev", stack.region)
        # boto3 is blocking: it runs in a thread so this loop keeps serving the Lambda API it calls
        described = await asyncio.to_thread(describe_with_boto3, outputs)
    assert described["bucket_status"] == 200
    assert {outputs["results_table"], outputs["items_table"]} <= set(described["tables"])
    assert described["queues"] == sorted([outputs["dlq_url"], outputs["jobs_queue_url"]])
    assert outputs["jobs_queue_url"].endswith("/fhr-dev-jobs_queue")
    for logical, name in outputs["functions"].items():
        assert described["functions"][name]["MemorySize"] == stack.function(logical).memory_mb
        assert described["functions"][name]["Timeout"] == stack.function(logical).timeout_s


def describe_with_boto3(outputs: dict[str, Any]) -> dict[str, Any]:
    kw = {"endpoint_url": outputs["aws_endpoint_url"], "region_name": outputs["region"]}
    lambda_client = boto3.client("lambda", endpoint_url=outputs["lambda_endpoint_url"], region_name=outputs["region"])
    return {
        "bucket_status": boto3.client("s3", **kw).head_bucket(Bucket=outputs["ecg_bucket"])["ResponseMetadata"][
            "HTTPStatusCode"
        ],
        "tables": boto3.client("dynamodb", **kw).list_tables()["TableNames"],
        # moto's state is per process: other tests' queues live beside this stack's, so ask by prefix.
        "queues": sorted(boto3.client("sqs", **kw).list_queues(QueueNamePrefix="fhr-dev-")["QueueUrls"]),
        "functions": {
            name: lambda_client.get_function_configuration(FunctionName=name) for name in outputs["functions"].values()
        },
    }


@pytest.mark.parametrize("snap_start", [False, True])
async def test_the_api_calls_the_published_version_restored_from_its_snapshot_when_snapstart_is_on(
    cloud_factory: Any, snap_start: bool
) -> None:
    """As deployed: a version behind the live alias; with snapStart its environments are restored, not initialised."""
    sizing = FunctionConfig(memory_mb=256, timeout_s=10, reserved_concurrency=10, snap_start=snap_start)
    plain = FunctionConfig(memory_mb=256, timeout_s=10, reserved_concurrency=10)
    async with cloud_factory({"functions": {"echo": sizing, "echo_worker": plain}}) as cloud:
        assert cloud.lambdas is not None
        name = physical_name("fhrtest", "dev", "echo")
        assert cloud.lambdas.alias_configuration(name, "live")["FunctionVersion"] == "1"
        status, _, _ = await call(cloud.outputs()["api_url"] + "/echo")
        assert status == 200
        start, *_, report = [line for line in cloud.lambdas.logs[name] if line.startswith(("START", "REPORT"))]
        assert start.endswith("Version: 1")
        assert ("\tRestore Duration: " in report) is snap_start and ("\tInit Duration: " in report) is not snap_start
        assert (cloud.lambdas.snapshots.get((name, "1")) is not None) is snap_start


# ---- timeouts as a client of the HTTP API sees them (a throttle: see the 500 test above)


async def test_a_function_timeout_is_502(cloud_factory: Any) -> None:
    """The function's own timeout (1 s, before the 5 s integration timeout) is a function error."""
    sizing = FunctionConfig(memory_mb=256, timeout_s=1, reserved_concurrency=10)
    stack = {"functions": {"echo": sizing, "echo_worker": sizing}}
    async with cloud_factory(stack, integration_timeout_s=5) as cloud:
        status, _, body = await call(cloud.outputs()["api_url"] + "/slow?s=3")  # Sandbox.Timedout after 1 s
        assert (status, json.loads(body)) == (502, {"message": "Internal Server Error"})


async def test_time_queued_for_a_local_worker_counts_toward_the_integration_timeout(cloud_factory: Any) -> None:
    """One worker: the second request waits for the first (1.5 s), then needs 1 s: 2.5 s after it arrived,
    over the 2 s integration timeout, although its own invocation takes only 1 s."""
    async with cloud_factory(worker_cap=1, integration_timeout_s=2.0) as cloud:
        api = cloud.outputs()["api_url"]
        await call(api + "/slow?s=0")  # the one worker is warm
        first = asyncio.ensure_future(call(api + "/slow?s=1.5"))
        await until_in_flight(cloud, 1)
        status, _, body = await call(api + "/slow?s=1")
        assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})
        await first


async def until_in_flight(cloud: LocalCloud, count: int) -> None:
    assert cloud.lambdas is not None
    admission = cloud.lambdas.functions[cloud.function_name("echo")].admission
    for _ in range(1000):
        if admission.in_flight >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first request never started")


# ---- the environment lifecycle, and what the keep-warm schedule is worth against it


async def test_with_the_schedule_n_environments_stay_warm_across_the_idle_limit(cloud_factory: Any) -> None:
    """Idle limit 5 s; the schedule (rate(1 minute) on a 30x clock) fires every 2 s with concurrency 3."""
    warm = KeepWarmConfig(enabled=True, schedule="rate(1 minute)", concurrency=3)
    lifecycle = Lifecycle(idle_s=(5.0, 5.0))
    async with cloud_factory({"keep_warm": warm}, clock=ScaledClock(speed=30.0), lifecycle=lifecycle) as cloud:
        assert cloud.lambdas is not None
        pool = cloud.lambdas.pool
        await until_fired(cloud, 3)  # warmed up: 3 environments (and any extra from overlapping first firings)
        cold, fired = pool.cold_starts, len(cloud.fired)
        await until_fired(cloud, fired + 6)  # 12 s: more than twice the idle limit
        assert pool.cold_starts == cold, "no environment had to be started again"
        assert pool.live >= 3, "N environments are still warm"
        answers = await asyncio.gather(*(call(cloud.outputs()["api_url"] + "/echo") for _ in range(3)))
        assert all(status == 200 for status, _, _ in answers)


async def test_without_the_schedule_the_next_request_after_the_idle_limit_is_a_cold_start(cloud_factory: Any) -> None:
    async with cloud_factory(lifecycle=Lifecycle(idle_s=(2.0, 2.0))) as cloud:
        assert cloud.lambdas is not None
        pool = cloud.lambdas.pool
        api = cloud.outputs()["api_url"]
        assert (await call(api + "/echo"))[0] == 200
        cold = pool.cold_starts
        async with asyncio.timeout(20):
            while pool.reclaimed_idle < 1:
                await asyncio.sleep(0.05)
        assert (await call(api + "/echo"))[0] == 200
        assert pool.cold_starts == cold + 1


async def until_fired(cloud: LocalCloud, count: int) -> None:
    async with asyncio.timeout(60):
        while len(cloud.fired) < count:
            await asyncio.sleep(0.05)


async def test_the_apps_own_schedules_fire_with_their_payload_even_without_keep_warm(cloud_factory: Any) -> None:
    """An app's ScheduledTask (the FHR app's jobs sweeper) fires through the same scheduler as keep-warm."""
    import dataclasses

    from fhrapp.definition import ScheduledTask
    from fhrcli.local import load_app
    from tests.localcloud.conftest import ECHO_APP_SPEC, echo_stack

    app = load_app(ECHO_APP_SPEC)
    task = ScheduledTask("sweep", "echo", "rate(1 minute)", {"source": "fhrtest.sweep"})
    app = dataclasses.replace(app, schedules=(task,))
    options = LocalCloudOptions(clock=ScaledClock(speed=300.0))
    async with LocalCloud(echo_stack(), app, options) as cloud:  # keep-warm off
        await until_fired(cloud, 2)
        assert {rule for rule, _, _ in cloud.fired} == {physical_name("fhrtest", "dev", "sweep")}
        assert all(result.status_code == 202 for _, _, result in cloud.fired)
