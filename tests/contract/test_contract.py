"""What any stage of the service promises a client, checked over HTTP against the target in conftest.py.

Runs against the local cloud by default and unchanged against a deployed stage
(``FHR_STACK_OUTPUTS=outputs.json``): what passes locally is what we expect of AWS.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from fhrapp.definition import APP
from localcloud.outputs import STACK_OUTPUT_KEYS

pytestmark = pytest.mark.contract


ROUTES = [pytest.param(route, id=route.route_key) for route in APP.routes]
API_FUNCTIONS = ("fhr", "items")  # their routes answer bad input with a typed {"code", "message", "requestId"}


def test_outputs_have_the_stack_output_shape(target: Any) -> None:
    assert set(STACK_OUTPUT_KEYS) <= set(target.outputs)
    assert target.outputs["functions"].keys() == {fn.name for fn in APP.functions}
    assert target.api_url.startswith(("http://", "https://"))


async def test_an_unknown_route_is_404_not_found(target: Any) -> None:
    status, _, body = await target.request("GET", "/no-such-route")
    assert (status, body) == (404, {"message": "Not Found"})


async def test_cors_preflight_is_answered_for_the_stacks_origin(target: Any) -> None:
    origins = target.stack.api.cors_origins
    origin = "https://client.example.org" if "*" in origins else origins[0]
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    status, response_headers, _ = await target.request("OPTIONS", "/fhr", headers=headers)
    assert status == 204
    assert response_headers["Access-Control-Allow-Origin"] in (origin, "*")
    assert "POST" in response_headers["Access-Control-Allow-Methods"]


@pytest.mark.target_with(auth="jwt")
async def test_a_jwt_stage_refuses_a_missing_or_forged_token_and_serves_a_valid_one(target: Any) -> None:
    ping = {"operation": "ping"}
    for authorization in ("", "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"):
        status, _, body = await target.request(
            "POST", "/DynamoDBManager", json=ping, headers={"Authorization": authorization}
        )
        assert (status, body) == (401, {"message": "Unauthorized"}), authorization
    if target.token:
        forged = target.token[:-4] + ("AAAA" if not target.token.endswith("AAAA") else "BBBB")  # signature changed
        status, _, body = await target.request("POST", "/DynamoDBManager", json=ping, token=forged)
        assert (status, body) == (401, {"message": "Unauthorized"})
        status, _, body = await target.request("POST", "/DynamoDBManager", json=ping)
        assert (status, body) == (200, "pong")


@pytest.mark.target_with(auth="open")
async def test_an_open_stage_serves_a_caller_without_a_token(target: Any) -> None:
    """The dev stage is open: no token, no 401, and the route answers (not merely "not 401")."""
    ping = {"operation": "ping"}
    status, _, body = await target.request("POST", "/DynamoDBManager", json=ping, headers={"Authorization": ""})
    assert (status, body) == (200, "pong")


def concrete(path: str) -> str:
    """A route path with its parameters filled in (``/fhr/jobs/{id}`` -> ``/fhr/jobs/contract-probe``)."""
    return "/".join("contract-probe" if part.startswith("{") else part for part in path.split("/"))


@pytest.mark.parametrize("route", ROUTES)
async def test_every_route_of_the_definition_is_deployed_and_answers(target: Any, route: Any) -> None:
    """No route is missing from the stage (the gateway's own 404) and none fails (5xx) on a plain request."""
    status, _, body = await target.request(route.method, concrete(route.path))
    assert body != {"message": "Not Found"}, f"{route.route_key} is not deployed"
    assert status < 500, (status, body)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.values[0].function in API_FUNCTIONS])
async def test_api_routes_answer_bad_input_with_a_typed_4xx(target: Any, route: Any) -> None:
    kwargs = {"data": b"{not json", "headers": {"Content-Type": "application/json"}} if route.method == "POST" else {}
    status, _, body = await target.request(route.method, concrete(route.path), **kwargs)
    assert 400 <= status < 500 and status not in (401, 403), (status, body)
    assert isinstance(body, dict) and body.get("code") and body.get("message") and body.get("requestId"), body


async def test_fhr_of_a_set_a_record_then_cached(target: Any, seeded_record: str) -> None:
    path = "/fhr?" + urllib.parse.urlencode({"filename": seeded_record})
    status, _, result = await target.request("GET", path)
    assert status == 200, result
    assert result["record"]["fs"] == 1000 and result["record"]["duration_s"] == pytest.approx(60.0)
    assert result["fhr"]["fs"] == 4 and len(result["fhr"]["bpm"]) > 0
    valid = [bpm for bpm in result["fhr"]["bpm"] if bpm is not None]
    assert valid and all(50 <= bpm <= 250 for bpm in valid)
    status, _, again = await target.request("GET", path)
    assert (status, again.get("cached")) == (200, True)


SERVED_RECORDS = ("a05", "a12")  # dev records, uploaded under patient-like names beside a01 (seeded_record)


@pytest.fixture(scope="module")
def served_records(target: Any, seeded_record: str, set_a_dir: Path) -> dict[str, str]:
    """record name -> the s3:// URI a client uploaded it to (a01 is ``seeded_record``)."""
    prefix, bucket = target.prefix(), target.outputs["ecg_bucket"]
    uris = {"a01": seeded_record}
    for name in SERVED_RECORDS:
        stem = f"Roe_Mary_1990-0{SERVED_RECORDS.index(name) + 1}-15_{name[1:]}"  # a patient-like name: never logged
        for suffix in (".hea", ".dat"):
            body = (set_a_dir / f"{name}{suffix}").read_bytes()
            if suffix == ".hea":
                body = body.replace(f"{name}.dat".encode(), f"{stem}.dat".encode()).replace(
                    f"{name} ".encode(), f"{stem} ".encode(), 1
                )
            target.put(f"{prefix}contract/{stem}{suffix}", body)
        uris[name] = f"s3://{bucket}/{prefix}contract/{stem}.hea"
    return uris


@pytest.mark.parametrize("name", ["a01", *SERVED_RECORDS])
async def test_the_served_fhr_of_dev_records_matches_their_reference_beats(
    target: Any, served_records: dict[str, str], set_a_dir: Path, name: str
) -> None:
    """The number a client receives, scored (SCORING.md) against the record's reference fetal beats.

    Measured (``venv/bin/fhr evaluate ../shared/data/challenge2013-set-a --records a01,a05,a12``): MSE
    0.186 / 0.001 / 0.019 bpm^2, signed error -0.144 / +0.003 / +0.053 bpm, coverage 1.0. One bpm of bias
    on every value gives MSE > 0.85 and a signed error > 0.85 on each, past the bounds."""
    from handlers.fhr import scoring

    status, _, result = await target.request(
        "GET", "/fhr?" + urllib.parse.urlencode({"filename": served_records[name]})
    )
    assert status == 200, result
    trace = result["fhr"]
    bpm = [float("nan") if value is None else value for value in trace["bpm"]]
    reference = scoring.read_reference_beats(set_a_dir, name)
    score = scoring.score_record(name, reference, result["record"]["duration_s"], bpm, t0=trace["t0"], fs=trace["fs"])
    errors = [test - ref for test, ref in zip(score.test_bpm, score.reference_bpm, strict=True) if test is not None]
    assert score.windows >= 15 and score.coverage == 1.0, score
    assert abs(sum(errors) / len(errors)) <= 0.5 and score.mse <= 0.35, score
    mhr = [value for value in result["mhr"]["bpm"] if value is not None]
    assert abs(sorted(mhr)[len(mhr) // 2] - result["summary"]["mhr_median_bpm"]) <= 0.1
    assert abs(result["summary"]["mhr_median_bpm"] - 60.0 / _median_rr(reference)) >= 30.0, "maternal, not fetal"


def _median_rr(beats: Any) -> float:
    import numpy as np

    return float(np.median(np.diff(beats)))


async def test_fhr_errors_are_typed(target: Any) -> None:
    bucket, prefix = target.outputs["ecg_bucket"], target.prefix()
    cases = {
        f"s3://{bucket}/{prefix}contract/does-not-exist.hea": 404,
        f"s3://{bucket}/tenants/somebody-else/a01.hea": 403,
        "s3://some-other-bucket/a01.hea": 403,
        "not-a-uri": 400,
    }
    for filename, expected in cases.items():
        status, _, body = await target.request("GET", "/fhr?" + urllib.parse.urlencode({"filename": filename}))
        assert status == expected, (filename, status, body)
        assert {"code", "message", "requestId"} <= set(body), body


async def test_dynamodb_manager_ping_and_echo(target: Any) -> None:
    status, _, body = await target.request("POST", "/DynamoDBManager", json={"operation": "ping"})
    assert (status, body) == (200, "pong")
    payload = {"nested": {"n": 1.5, "list": [1, "two"]}}
    status, _, body = await target.request("POST", "/DynamoDBManager", json={"operation": "echo", "payload": payload})
    assert (status, body) == (200, payload)


async def test_dynamodb_manager_refuses_other_tables(target: Any) -> None:
    body = {"operation": "ping", "tableName": "someone-elses-table"}
    status, _, answer = await target.request("POST", "/DynamoDBManager", json=body)
    assert status == 403 and answer["code"], answer


FIVE_MB = 5 * 1024 * 1024  # over the functions' 4 MiB body limit, under Lambda's 6 MB event limit
GATEWAY_BAD_INPUT = [
    ("POST", "/fhr", "[" * 100_000, 400, "too_deep"),
    ("POST", "/fhr", '{"filename": "s3://b/a\\ud800.hea"}', 400, "invalid_text"),
    ("POST", "/fhr", '{"filename": "s3://b/a.hea", "filename": "s3://c/a.hea"}', 400, "duplicate_key"),
    ("POST", "/fhr", '{"filename": "' + "a" * FIVE_MB + '"}', 413, "body_too_large"),
    ("POST", "/fhr/batch", '{"filenames": [1e999999999]}', 400, "invalid_number"),
    ("POST", "/DynamoDBManager", "[" * 100_000, 400, "too_deep"),
    ("POST", "/DynamoDBManager", '{"operation": "echo", "payload": "' + "a" * FIVE_MB + '"}', 413, "body_too_large"),
    ("GET", "/fhr/jobs/0123456789abcdef0123456789abcdef?offset=%D9%A1", None, 400, "invalid_page"),
    ("GET", "/recordings?limit=%C2%B2", None, 400, "invalid_limit"),
    ("POST", "/uploads", '{"files": [{"name": "a\\udfff.csv", "size": 5}]}', 400, "invalid_text"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [pytest.param(*case, id=f"{case[0]} {case[1][:30]} {case[4]}") for case in GATEWAY_BAD_INPUT],
)
async def test_bad_input_through_the_gateway_is_a_typed_4xx(
    target: Any, method: str, path: str, body: str | None, status: int, code: str
) -> None:
    """The issue's cases end to end (gateway, Lambda, our runtime, the handler): no 500, our error body."""
    kwargs = {"data": body.encode(), "headers": {"Content-Type": "application/json"}} if body is not None else {}
    answer_status, _, answer = await target.request(method, path, **kwargs)
    assert (answer_status, answer.get("code") if isinstance(answer, dict) else answer) == (status, code)
    assert answer["message"] and answer["requestId"]
