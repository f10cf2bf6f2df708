"""``fhr powertune`` end to end: outputs file -> boto3 against the local Lambda service -> report files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from fhrcli.main import main
from localcloud.lambda_service import LambdaService
from powertune.events import NoSuchRoute, function_event, http_api_event, post_route


def write_outputs(tmp_path: Path, service: LambdaService) -> Path:
    outputs = {
        "api_url": "http://127.0.0.1:1",
        "ecg_bucket": "b",
        "results_table": "r",
        "items_table": "i",
        "functions": {"fhr": "t-fhr", "items": "t-spin"},
        "region": "eu-west-1",
        "stage": "test",
        "aws_endpoint_url": "http://127.0.0.1:1",
        "lambda_endpoint_url": service.url,
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def cli_args(outputs: Path, payload: Path, *extra: str) -> list[str]:
    return ["powertune", "--outputs", str(outputs), "--function", "fhr", "--payload", str(payload), *extra]


async def test_cli_wraps_the_body_as_the_routes_event_and_writes_json_png_html(
    service: LambdaService, tmp_path: Path, capsys: Any
) -> None:
    payload = tmp_path / "body.json"
    payload.write_text(json.dumps({"cpu_s": 0.02}))
    outputs = write_outputs(tmp_path, service)
    report_path, png, page = tmp_path / "pt.json", tmp_path / "pt.png", tmp_path / "pt.html"
    argv = cli_args(outputs, payload, "--memory", "256,1769", "--num", "2", "--strategy", "speed")
    argv += ["--json", str(report_path), "--chart", str(png), "--html", str(page)]
    code = await asyncio.to_thread(main, argv)
    assert code == 0, capsys.readouterr().err  # the handler raises unless it got a payload-2.0 POST /fhr event
    report = json.loads(report_path.read_text())
    assert [row["memory_mb"] for row in report["results"]] == [256, 1769]
    assert {"memory_mb", "duration_ms", "billed_ms", "cost_usd", "cold_starts"} <= set(report["results"][0])
    assert [row["http_statuses"] for row in report["results"]] == [{"200": 2}, {"200": 2}]
    assert set(report["best"]) == {"cost", "speed", "balanced"}
    assert report["recommended"] == report["best"]["speed"]
    assert report["pricing"]["region"] == "eu-west-1" and report["pricing"]["architecture"] == "x86_64"
    assert png.read_bytes().startswith(b"\x89PNG")
    assert "<svg" in page.read_text() and "1769" in page.read_text()
    assert "best for speed" in capsys.readouterr().out
    assert service.functions["t-fhr"].spec.memory_mb == 128 and service.functions["t-fhr"].aliases == {}


async def test_cli_warns_when_every_timed_response_was_a_cache_hit(
    service: LambdaService, tmp_path: Path, capsys: Any
) -> None:
    """The test handler echoes the body: a body saying "cached": true stands for a cached FHR result."""
    outputs = write_outputs(tmp_path, service)
    for cached, warned in ((True, True), (False, False)):
        payload = tmp_path / "body.json"
        payload.write_text(json.dumps({"cpu_s": 0.0, "cached": cached}))
        report_path = tmp_path / "pt.json"
        argv = cli_args(outputs, payload, "--memory", "256", "--num", "2", "--json", str(report_path))
        assert await asyncio.to_thread(main, argv) == 0
        out = capsys.readouterr().out
        assert ("every response timed was a cache hit" in out) is warned, out
        assert json.loads(report_path.read_text())["results"][0]["cache_hits"] == (2 if cached else 0)


async def test_cli_failure_exits_nonzero_and_restores(service: LambdaService, tmp_path: Path, capsys: Any) -> None:
    payload = tmp_path / "body.json"
    payload.write_text(json.dumps({"no_cpu_s": True}))  # the handler's KeyError: a function error
    argv = cli_args(write_outputs(tmp_path, service), payload, "--memory", "256,512", "--num", "1")
    assert await asyncio.to_thread(main, argv) == 1
    assert "KeyError" in capsys.readouterr().err
    state = service.functions["t-fhr"]
    assert (state.spec.memory_mb, state.aliases, state.versions) == (128, {}, {})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--function", "nope"], "no function 'nope'"),
        (["--route", "GET /fhr"], "no POST route 'GET /fhr'"),
        (["--set-env", "JUSTANAME"], "NAME=VALUE"),
        (["--discard-top-bottom", "0.7"], "discard-top-bottom"),
    ],
)
def test_cli_bad_input_is_a_clear_error(tmp_path: Path, capsys: Any, extra: list[str], message: str) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "api_url": "u",
                "ecg_bucket": "b",
                "results_table": "r",
                "items_table": "i",
                "functions": {"fhr": "x"},
                "region": "us-east-1",
                "stage": "s",
            }
        )
    )
    payload = tmp_path / "body.json"
    payload.write_text("{}")
    argv = cli_args(outputs, payload, "--memory", "128", "--num", "1")
    if extra[0] == "--function":
        argv[argv.index("--function") + 1] = extra[1]
    else:
        argv += extra
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_memory_list_must_be_integers(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        main(["powertune", "--outputs", "o", "--function", "f", "--memory", "128,big", "--num", "1", "--payload", "p"])
    assert "memory sizes must be integers" in capsys.readouterr().err


def test_events_follow_the_app_definition() -> None:
    assert post_route("fhr") is not None and post_route("fhr").route_key == "POST /fhr"  # type: ignore[union-attr]
    assert post_route("items").route_key == "POST /DynamoDBManager"  # type: ignore[union-attr]
    assert post_route("worker") is None
    event = http_api_event(post_route("fhr"), {"filename": "s3://b/k"})  # type: ignore[arg-type]
    assert event["version"] == "2.0" and event["requestContext"]["http"]["method"] == "POST"
    assert json.loads(event["body"]) == {"filename": "s3://b/k"} and event["isBase64Encoded"] is False
    assert function_event("worker", {"Records": []}) == {"Records": []}
    with pytest.raises(NoSuchRoute):
        post_route("fhr", "POST /nowhere")
    with pytest.raises(ValueError, match="JSON object event"):
        function_event("worker", [1, 2])
