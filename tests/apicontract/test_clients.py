"""The page, fhr loadtest, Locust and the examples find every path in the route table, by operation id.

A renamed operation fails here (or in the clients' own tests), not in a user's hands; a moved path moves
with the table (the page gets it in its config, loadgen and Locust from ``fhrapp.definition``, the examples
from the stack's ``GET /openapi.json``).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import loadgen.targets
from fhrapp.definition import APP, Route
from loadgen.outputs import parse_outputs

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = {route.operation_id for route in APP.routes}
OUTPUTS = {
    "api_url": "https://api.example.org",
    "ecg_bucket": "fhr-dev-ecg-bucket",
    "results_table": "fhr-dev-results_table",
    "items_table": "fhr-dev-items_table",
    "region": "eu-west-1",
    "stage": "dev",
    "functions": {},
}


def test_the_page_calls_operations_of_the_route_table_and_no_literal_path() -> None:
    script = (ROOT / "handlers/web/static/app.js").read_text()
    used = set(re.findall(r"""route\("([A-Za-z]+)"\)""", script))
    assert used == {"listRecordings", "createUploads", "getFhr"}
    assert used <= OPERATIONS
    calls = re.findall(r"""\bapi\("[A-Z]+",\s*([^,)]+)""", script)
    assert len(calls) == 4, calls
    for path in calls:  # every request the page sends: an operation's path, or the location the API answered
        assert path.startswith(("route(", "`${route(")) or path == "location", path


def test_the_examples_take_their_paths_from_the_served_document() -> None:
    script = (ROOT / "examples/clients.sh").read_text()
    used = set(re.findall(r"path_of ([A-Za-z]+)", script))
    assert used and used <= OPERATIONS
    assert re.findall(r"\$api/[A-Za-z]", script) == ["$api/o"]  # only the document itself: $api/openapi.json


def test_loadgen_and_locust_requests_follow_a_moved_route(monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = parse_outputs(OUTPUTS)
    (fhr,) = loadgen.targets.fhr_requests(outputs, ["tenants/open/a01.hea"])
    assert fhr.url.startswith("https://api.example.org/fhr?filename=s3://")
    moved = tuple(dataclasses.replace(r, path="/v2/fhr") if r.operation_id == "getFhr" else r for r in APP.routes)
    monkeypatch.setattr(loadgen.targets, "APP", dataclasses.replace(APP, routes=moved))
    (fhr,) = loadgen.targets.fhr_requests(outputs, ["tenants/open/a01.hea"])
    assert fhr.url.startswith("https://api.example.org/v2/fhr?filename=s3://")
    (items,) = loadgen.targets.items_requests(outputs)
    (batch,) = loadgen.targets.batch_requests(outputs, ["tenants/open/a01.hea"])
    assert (items.url, batch.url) == ("https://api.example.org/DynamoDBManager", "https://api.example.org/fhr/batch")


def test_a_renamed_operation_fails_the_client_that_still_uses_the_old_name(monkeypatch: pytest.MonkeyPatch) -> None:
    renamed = tuple(
        dataclasses.replace(r, operation="getHeartRate") if r.operation_id == "getFhr" else r for r in APP.routes
    )
    monkeypatch.setattr(loadgen.targets, "APP", dataclasses.replace(APP, routes=renamed))
    with pytest.raises(KeyError, match="getFhr"):
        loadgen.targets.fhr_requests(parse_outputs(OUTPUTS), ["tenants/open/a01.hea"])
    assert isinstance(renamed[0], Route)
