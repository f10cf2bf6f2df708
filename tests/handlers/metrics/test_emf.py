"""EMF lines as CloudWatch's specification defines them, checked against a JSON schema of that spec
(written from the CloudWatch "Specification: Embedded metric format" page) and its target-member rules."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import jsonschema
import pytest

from handlers.metrics import METRICS, InvalidMetricValue, MetricsError, UnknownMetric, emit, metric_record

UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
]  # fmt: skip
EMF_SCHEMA = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                                        "Unit": {"enum": UNITS},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def assert_valid_emf(document: dict) -> None:
    """Schema, then the rule the schema cannot say: every referenced member exists at the root, typed."""
    jsonschema.validate(document, EMF_SCHEMA)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for dimension in dimension_set:
                assert isinstance(document[dimension], str), f"dimension {dimension} must be a string member"
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool), metric["Name"]


def test_every_documented_metric_makes_one_valid_line() -> None:
    out = io.StringIO()
    values = {name: index + 0.5 for index, name in enumerate(METRICS)}
    written = emit(values, function="fhr-dev-fhr", properties={"requestId": "r-1"}, stream=out)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n"), "exactly one line"
    document = json.loads(text)
    assert document == written
    assert_valid_emf(document)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "FHR" and directive["Dimensions"] == [["Function"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == METRICS
    assert document["Function"] == "fhr-dev-fhr" and document["requestId"] == "r-1"
    assert (document["level"], document["message"]) == ("INFO", "metrics"), "also a structured log line"
    assert document["FhrDurationMs"] == 0.5 and document["WarmPings"] == len(METRICS) - 0.5


def test_units_follow_the_metric_and_timestamp_is_milliseconds() -> None:
    document = metric_record(
        {"BytesStreamed": 14_400_000, "CacheHits": 1}, function="f", timestamp_ms=1_700_000_000_123
    )
    assert document["_aws"]["Timestamp"] == 1_700_000_000_123
    units = {m["Name"]: m["Unit"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units == {"BytesStreamed": "Bytes", "CacheHits": "Count"}
    assert_valid_emf(document)


def test_function_dimension_defaults_to_lambdas_function_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fhr-prod-fhr")
    assert metric_record({"ColdStarts": 1})["Function"] == "fhr-prod-fhr"


@pytest.mark.parametrize(
    ("values", "properties", "error"),
    [
        ({"FhrDuration": 1.0}, None, UnknownMetric),
        ({"CacheHits": True}, None, InvalidMetricValue),
        ({"FhrDurationMs": float("nan")}, None, InvalidMetricValue),
        ({"BytesStreamed": "12"}, None, InvalidMetricValue),
        ({}, None, MetricsError),
        ({"CacheHits": 1}, {"Function": "other"}, MetricsError),
        ({"CacheHits": 1}, {"CacheHits": 2}, MetricsError),
    ],
)
def test_lines_cloudwatch_would_reject_are_refused(values: dict, properties: dict | None, error: type) -> None:
    with pytest.raises(error):
        metric_record(values, function="f", properties=properties)


def test_emitting_is_cheap_to_import_and_prints_to_stdout() -> None:
    """A handler process imports handlers.metrics with no third-party module and writes to stdout."""
    code = (
        "import sys; from handlers.metrics import emit; emit({'ColdStarts': 1}, function='f');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'numpy','boto3','aiohttp','botocore'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    first, second = done.stdout.splitlines()
    assert_valid_emf(json.loads(first))
    assert second == "[]"
