"""The one app definition: its own consistency check, and the names and payloads derived from it."""

from __future__ import annotations

import dataclasses

import pytest

from fhrapp.definition import (
    APP,
    FHR_FUNCTION,
    ITEMS_FUNCTION,
    Grant,
    Route,
    physical_name,
    warm_payload,
)


def test_the_shipped_definition_is_consistent() -> None:
    APP.validate()
    assert [fn.name for fn in APP.functions] == ["fhr", "items"]
    assert [r.route_key for r in APP.routes] == ["GET /fhr", "POST /fhr", "POST /DynamoDBManager"]
    assert [r.route_key for r in APP.routes_of("fhr")] == ["GET /fhr", "POST /fhr"]
    assert [fn.name for fn in APP.warmed_functions] == ["fhr", "items"]
    assert APP.resource("results_table").ttl_attribute == "expires_at"


def test_lookups_of_unknown_names_raise_key_error() -> None:
    with pytest.raises(KeyError, match="no function named 'nope'"):
        APP.function("nope")
    with pytest.raises(KeyError, match="no resource named 'nope'"):
        APP.resource("nope")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"routes": (*APP.routes, Route("GET", "/x", "ghost"))}, "route GET /x names unknown function 'ghost'"),
        ({"routes": (*APP.routes, Route("GET", "/fhr", "fhr"))}, "duplicate route keys"),
        (
            {
                "functions": (
                    dataclasses.replace(FHR_FUNCTION, grants=(Grant("attic", ("s3:GetObject",)),)),
                    ITEMS_FUNCTION,
                )
            },
            "function fhr grants on unknown resource 'attic'",
        ),
        (
            {"functions": (FHR_FUNCTION, dataclasses.replace(ITEMS_FUNCTION, resources=("attic",)))},
            "function items names unknown resource 'attic'",
        ),
    ],
)
def test_validate_rejects_dangling_references(change: dict, message: str) -> None:
    broken = dataclasses.replace(APP, **change)
    with pytest.raises(ValueError, match=message):
        broken.validate()


def test_physical_names_and_warm_payload() -> None:
    assert physical_name("fhr", "dev", "results_table") == "fhr-dev-results_table"
    assert warm_payload(3) == {"source": "fhr.keep-warm", "keepWarm": {"concurrency": 3}}
