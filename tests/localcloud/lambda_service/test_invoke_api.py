"""The Invoke API and configuration operations through boto3's real Lambda client, unchanged."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.lambda_service import FunctionSpec, LambdaService
from localcloud.lambda_service.payloads import MAX_PAYLOAD_BYTES
from tests.localcloud.lambda_service.conftest import call, lambda_client

Ric = Callable[..., FunctionSpec]


async def client_error(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        await call(client, operation, **params)
    return caught.value.response


@pytest.fixture
async def service(start_service, ric: Ric) -> LambdaService:
    return await start_service(
        [
            ric("fx-echo", "basic.echo", memory_mb=256, environment={"FIXTURE_MARKER": "m"}),
            ric("fx-fail", "basic.fail"),
            ric("fx-throttled", "basic.echo", reserved_concurrency=0),
        ]
    )


async def test_invoke_request_response_with_log_tail(service: LambdaService) -> None:
    client = lambda_client(service)
    response = await call(client, "invoke", FunctionName="fx-echo", Payload=b'{"via": "boto3"}', LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    body = json.loads(response["Payload"].read())
    assert body["event"] == {"via": "boto3"}
    assert body["request_id"] == response["ResponseMetadata"]["RequestId"]
    log = base64.b64decode(response["LogResult"]).decode()
    assert f"REPORT RequestId: {body['request_id']}\tDuration: " in log
    assert "Memory Size: 256 MB" in log and "Init Duration: " in log


async def test_client_context_reaches_the_handler(service: LambdaService) -> None:
    client = lambda_client(service)
    context = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    response = await call(client, "invoke", FunctionName="fx-echo", Payload=b"{}", ClientContext=context)
    assert json.loads(response["Payload"].read())["client_context"] == {"tenant": "t1"}


async def test_function_error_is_flagged_unhandled(service: LambdaService) -> None:
    response = await call(lambda_client(service), "invoke", FunctionName="fx-fail", Payload=b'{"why": "boto3"}')
    assert (response["StatusCode"], response["FunctionError"]) == (200, "Unhandled")
    assert json.loads(response["Payload"].read())["errorMessage"] == "bad input: boto3"


async def test_event_and_dry_run_invocation_types(service: LambdaService) -> None:
    client = lambda_client(service)
    event = await call(client, "invoke", FunctionName="fx-echo", Payload=b"{}", InvocationType="Event")
    assert event["StatusCode"] == 202
    dry = await call(client, "invoke", FunctionName="fx-echo", Payload=b"{}", InvocationType="DryRun")
    assert dry["StatusCode"] == 204


async def test_errors_are_the_modelled_aws_exceptions(service: LambdaService) -> None:
    client = lambda_client(service)
    missing = await client_error(client, "invoke", FunctionName="fx-nope", Payload=b"{}")
    assert missing["Error"]["Code"] == "ResourceNotFoundException"
    assert missing["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "function:fx-nope" in missing["Error"]["Message"]

    bad_qualifier = await client_error(client, "invoke", FunctionName="fx-echo", Qualifier="nope", Payload=b"{}")
    assert bad_qualifier["Error"]["Code"] == "ResourceNotFoundException"

    bad_json = await client_error(client, "invoke", FunctionName="fx-echo", Payload=b"{oops")
    assert bad_json["Error"]["Code"] == "InvalidRequestContentException"
    assert bad_json["ResponseMetadata"]["HTTPStatusCode"] == 400

    too_big = await client_error(client, "invoke", FunctionName="fx-echo", Payload=b"1" * (MAX_PAYLOAD_BYTES + 1))
    assert too_big["Error"]["Code"] == "RequestEntityTooLargeException"  # what AWS answers, not the modelled one
    assert too_big["Error"]["Message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    assert too_big["ResponseMetadata"]["HTTPStatusCode"] == 413
    event_too_big = await client_error(
        client, "invoke", FunctionName="fx-echo", InvocationType="Event", Payload=b"1" * (1024 * 1024 + 1)
    )
    assert event_too_big["Error"]["Code"] == "RequestEntityTooLargeException"
    assert "too large for the Event invocation type (limit 1048576 bytes)" in event_too_big["Error"]["Message"]

    throttled = await client_error(client, "invoke", FunctionName="fx-throttled", Payload=b"{}")
    assert throttled["Error"]["Code"] == "TooManyRequestsException"
    assert throttled["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert throttled["ResponseMetadata"]["HTTPStatusCode"] == 429

    assert service.live_worker_pids() == [], "no request above started a worker"


async def test_function_named_by_arn_and_qualifier(service: LambdaService) -> None:
    client = lambda_client(service)
    arn = service.function_arn("fx-echo")
    response = await call(client, "invoke", FunctionName=arn, Qualifier="$LATEST", Payload=b'{"arn": true}')
    assert json.loads(response["Payload"].read())["event"] == {"arn": True}


async def test_get_and_update_function_configuration(service: LambdaService) -> None:
    client = lambda_client(service)
    config = await call(client, "get_function_configuration", FunctionName="fx-echo")
    assert (config["MemorySize"], config["Timeout"], config["Handler"]) == (256, 10, "basic.echo")
    assert config["Environment"]["Variables"] == {"FIXTURE_MARKER": "m"}
    assert config["FunctionArn"] == service.function_arn("fx-echo")

    updated = await call(client, "update_function_configuration", FunctionName="fx-echo", MemorySize=1024, Timeout=20)
    assert (updated["MemorySize"], updated["Timeout"]) == (1024, 20)
    await asyncio.to_thread(client.get_waiter("function_updated_v2").wait, FunctionName="fx-echo")
    response = await call(client, "invoke", FunctionName="fx-echo", Payload=b"{}")
    assert json.loads(response["Payload"].read())["memory_limit_in_mb"] == 1024

    unvalidated = boto3.client(
        "lambda",
        endpoint_url=service.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )  # botocore checks the range itself: switch that off so the server's own check answers
    bad = await client_error(unvalidated, "update_function_configuration", FunctionName="fx-echo", MemorySize=64)
    assert bad["Error"]["Code"] == "InvalidParameterValueException"
    assert (await call(client, "get_function_configuration", FunctionName="fx-echo"))["MemorySize"] == 1024


async def test_versions_and_aliases_pin_a_configuration(service: LambdaService) -> None:
    """What the power tuner does: configure, publish, point an alias, invoke the alias, clean up."""
    client = lambda_client(service)
    await call(client, "update_function_configuration", FunctionName="fx-echo", MemorySize=512)
    version = (await call(client, "publish_version", FunctionName="fx-echo"))["Version"]
    alias = await call(client, "create_alias", FunctionName="fx-echo", Name="size-512", FunctionVersion=version)
    assert alias["AliasArn"] == service.function_arn("fx-echo", "size-512")
    await call(client, "update_function_configuration", FunctionName="fx-echo", MemorySize=128)

    pinned = await call(client, "invoke", FunctionName="fx-echo", Qualifier="size-512", Payload=b"{}", LogType="Tail")
    assert pinned["ExecutedVersion"] == version
    assert json.loads(pinned["Payload"].read())["memory_limit_in_mb"] == 512
    assert "Memory Size: 512 MB" in base64.b64decode(pinned["LogResult"]).decode()
    latest = await call(client, "invoke", FunctionName="fx-echo", Payload=b"{}")
    assert json.loads(latest["Payload"].read())["memory_limit_in_mb"] == 128

    busy = await client_error(client, "delete_function", FunctionName="fx-echo", Qualifier=version)
    assert busy["Error"]["Code"] == "InvalidParameterValueException", "a version behind an alias stays"
    await call(client, "delete_alias", FunctionName="fx-echo", Name="size-512")
    await call(client, "delete_function", FunctionName="fx-echo", Qualifier=version)
    gone = await client_error(client, "invoke", FunctionName="fx-echo", Qualifier=version, Payload=b"{}")
    assert gone["Error"]["Code"] == "ResourceNotFoundException"


async def test_get_function_list_functions_and_concurrency(service: LambdaService) -> None:
    client = lambda_client(service)
    function = await call(client, "get_function", FunctionName="fx-throttled")
    assert function["Configuration"]["FunctionName"] == "fx-throttled"
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 0
    names = {f["FunctionName"] for f in (await call(client, "list_functions"))["Functions"]}
    assert names == {"fx-echo", "fx-fail", "fx-throttled"}
    concurrency = await call(client, "get_function_concurrency", FunctionName="fx-throttled")
    assert concurrency["ReservedConcurrentExecutions"] == 0


async def test_unknown_operations_and_bad_headers_are_typed_4xx(service: LambdaService) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{service.url}/2015-03-31/no-such-operation") as response:
            assert response.status == 404
            assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
            assert "no Lambda operation" in (await response.json())["message"]
        invoke_url = f"{service.url}/2015-03-31/functions/fx-echo/invocations"
        async with session.post(invoke_url, data=b"{}", headers={"X-Amz-Invocation-Type": "Sometimes"}) as response:
            assert response.status == 400
            assert response.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
        async with session.put(f"{service.url}/2015-03-31/functions/fx-echo/configuration", data=b"[1]") as response:
            assert response.status == 400
            assert response.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"


async def test_aioboto3_invokes_through_the_same_api(service: LambdaService) -> None:
    """What handlers do (the keep-warm fan-out): aioboto3's async Lambda client, unchanged."""
    import aioboto3

    session = aioboto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1")
    async with session.client("lambda", endpoint_url=service.url) as client:
        response = await client.invoke(FunctionName="fx-echo", Payload=b'{"via": "aioboto3"}', LogType="Tail")
        body = json.loads(await response["Payload"].read())
        assert (response["StatusCode"], body["event"]) == (200, {"via": "aioboto3"})
        assert "REPORT RequestId: " in base64.b64decode(response["LogResult"]).decode()
        with pytest.raises(ClientError) as caught:
            await client.invoke(FunctionName="fx-nope", Payload=b"{}")
        assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


async def test_update_configuration_refuses_an_environment_over_4_kb(service: LambdaService) -> None:
    """As Lambda: ``InvalidParameterValueException`` quoting its limit, and nothing changed."""
    variables = {f"VARIABLE_{index:03d}": "v" * 40 for index in range(80)}
    client = lambda_client(service)
    update = {"FunctionName": "fx-fail", "Environment": {"Variables": variables}}
    refused = await client_error(client, "update_function_configuration", **update)
    assert refused["Error"]["Code"] == "InvalidParameterValueException"
    assert "4KB limit" in refused["Error"]["Message"]
    assert service.configuration("fx-fail")["Environment"] == {"Variables": {}}, "nothing was changed"
