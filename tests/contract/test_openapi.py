"""The stage serves its OpenAPI document, the one this checkout builds, and the run checked every operation.

Every response of the suite is checked against the document as it arrives (``Target.checked`` in
conftest.py); the last test of a target says which operations and statuses that covered.
"""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from apicontract.document import stack_document
from fhrapp.definition import APP

pytestmark = pytest.mark.contract


async def test_the_stage_serves_the_document_this_checkout_builds(target: Any) -> None:
    status, headers, served = await target.request("GET", "/openapi.json", headers={"Authorization": ""})
    assert status == 200 and headers["content-type"].startswith("application/json")
    validate(served)  # a valid OpenAPI 3.1 document (openapi-spec-validator)
    built = stack_document(target.stack.stage)
    assert {**served, "servers": None} == {**built, "servers": None}
    assert served["servers"] == [{"url": target.api_url}]
    assert ("securitySchemes" in served["components"]) == (target.stack.auth.mode == "jwt")


async def test_the_document_describes_every_route_the_gateway_has(target: Any) -> None:
    _, _, served = await target.request("GET", "/openapi.json")
    operations = {
        (method.upper(), path): spec["operationId"]
        for path, item in served["paths"].items()
        for method, spec in item.items()
    }
    assert operations == {(r.method, r.path): r.operation_id for r in APP.routes}


@pytest.mark.last_per_target
def test_every_operation_was_checked_against_the_document(target: Any, request: pytest.FixtureRequest) -> None:
    """Each operation of the document answered at least one checked response in this run (an operation the
    suite never calls would be one whose responses nobody checks)."""
    if request.config.getoption("keyword") or request.config.getoption("markexpr"):
        pytest.skip("a selection of the suite (-k/-m) need not call every operation")
    if not any("test_tenancy.py" in item.nodeid for item in request.session.items):
        pytest.skip("the whole contract suite did not run")
    seen = target.checker.seen
    checked = {operation for operation, _ in seen}
    missing = sorted({r.operation_id for r in APP.routes} - checked)
    assert not missing, f"no checked response from {missing}"
    print(f"\n{sum(seen.values())} responses checked against the document on {target.stack.stage}:")
    for (operation, status), count in sorted(seen.items()):
        print(f"  {operation:16} {status}  x{count}")
