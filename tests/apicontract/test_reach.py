"""Every code a route's handler can raise is declared in the document, and every declared code can be raised.

The codes are read from the handlers' source by :mod:`apicontract.reach` (raise sites, codes passed down
through parameters, calls), independently of the ``CONTRACT`` declarations the document is built from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apicontract.reach import HANDLERS, Source, Walker, reachable_codes, route_entries
from fhrapp.definition import APP, api_routes_json
from handlers.api.contract import NOT_OVER_HTTP
from handlers.api.openapi import contract_of, routes_from_json

ROUTES = routes_from_json(api_routes_json(APP))


@pytest.fixture(scope="module")
def source() -> Source:
    return Source()


def codes_of(raised: set) -> set[tuple[int, str]]:
    return {(r.status, r.code) for r in raised if r.code not in NOT_OVER_HTTP}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.route_key)
def test_the_route_declares_exactly_the_codes_its_handler_can_raise(source: Source, route) -> None:
    raised, unresolved = reachable_codes(route.module, route.route_key, source)
    assert not unresolved, f"raise sites whose code the scan cannot tell: {unresolved}"
    declared = contract_of(route).error_codes()
    undeclared = sorted(
        f"{r.status} {r.code} (raised at {r.where})"
        for r in raised
        if (r.status, r.code) in (codes_of(raised) - declared)
    )
    assert not undeclared, f"{route.route_key} can answer codes its CONTRACT does not declare: {undeclared}"
    stale = sorted(declared - codes_of(raised))
    assert not stale, f"{route.route_key} declares codes no raise site reachable from it produces: {stale}"


def test_the_scan_sees_the_dispatch_and_the_caller_checks(source: Source) -> None:
    """What every route shares (the event, the caller) and what only one route raises stay where they belong."""
    jobs, _ = reachable_codes("handlers.api.fhr", "GET /fhr/jobs/{id}", source)
    fhr, _ = reachable_codes("handlers.api.fhr", "GET /fhr", source)
    page, _ = reachable_codes("handlers.web.app", "GET /", source)
    assert (404, "job_not_found") in codes_of(jobs) and (404, "job_not_found") not in codes_of(fhr)
    assert (400, "invalid_page") in codes_of(jobs)  # passed down: GET_JOB.query_int(..., code="invalid_page")
    assert (422, "corrupt_record") in codes_of(fhr)  # declared by api_error_for's @raises
    assert (403, "missing_tenant") in codes_of(fhr) and (403, "missing_tenant") not in codes_of(page)
    assert {(413, "body_too_large"), (500, "internal_error")} <= codes_of(page)


def mutated(tmp_path: Path, relative: str, old: str, new: str) -> Source:
    """The scan over a copy of the handlers with one edit, as a developer would make it."""
    root = tmp_path / "handlers"
    shutil.copytree(HANDLERS, root, ignore=shutil.ignore_patterns("__pycache__", "vendor"))
    path = root / relative
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return Source(root)


def test_a_new_raise_site_in_one_route_is_found_for_that_route_only(tmp_path: Path) -> None:
    source = mutated(
        tmp_path,
        "api/fhr.py",
        "    GET_JOB.check_query(request.query)\n",
        "    GET_JOB.check_query(request.query)\n"
        '    if "x" in request.headers:\n'
        '        raise BadRequest("no x", code="x_not_allowed")\n',
    )
    jobs, _ = reachable_codes("handlers.api.fhr", "GET /fhr/jobs/{id}", source)
    fhr, _ = reachable_codes("handlers.api.fhr", "GET /fhr", source)
    assert (400, "x_not_allowed") in codes_of(jobs) and (400, "x_not_allowed") not in codes_of(fhr)


def test_a_code_passed_down_to_a_shared_helper_is_found(tmp_path: Path) -> None:
    source = mutated(tmp_path, "web/app.py", 'code="invalid_limit"', 'code="bad_limit"')
    raised, unresolved = reachable_codes("handlers.web.app", "GET /recordings", source)
    assert not unresolved
    assert (400, "bad_limit") in codes_of(raised) and (400, "invalid_limit") not in codes_of(raised)


def test_a_code_the_scan_cannot_tell_is_reported(tmp_path: Path) -> None:
    source = mutated(
        tmp_path,
        "api/items.py",
        'raise BadRequest("operation is required", code="missing_operation")',
        'raise BadRequest("operation is required", code=str(value))',
    )
    walker = Walker(source)
    walker.reach(*route_entries(source, "handlers.api.items", "POST /DynamoDBManager"))
    assert any("code=str(value)" in line for line in walker.unresolved), walker.unresolved
