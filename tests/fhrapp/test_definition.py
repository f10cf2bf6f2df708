"""The one app definition: its own consistency check, and the names and payloads derived from it."""

from __future__ import annotations

import dataclasses

import pytest

from fhrapp.definition import (
    APP,
    FHR_FUNCTION,
    ITEMS_FUNCTION,
    DataResource,
    Function,
    Grant,
    QueueTrigger,
    Route,
    Tenancy,
    function_environment,
    physical_name,
    warm_payload,
)


def test_the_shipped_definition_is_consistent() -> None:
    APP.validate()
    assert [fn.name for fn in APP.functions] == ["fhr", "items", "worker", "web"]
    assert [r.route_key for r in APP.routes_of("fhr")] == [
        "GET /fhr",
        "POST /fhr",
        "POST /fhr/batch",
        "GET /fhr/jobs/{id}",
    ]
    assert [r.route_key for r in APP.routes if r.public] == ["GET /"]
    assert [fn.name for fn in APP.warmed_functions] == ["fhr", "items"]
    assert APP.resource("results_table").ttl_attribute == "expires_at"
    assert APP.resource("jobs_queue").dead_letter == "jobs_dlq"
    worker = APP.function("worker")
    assert worker.trigger is not None and worker.trigger.queue == "jobs_queue"
    # Lambda refuses a mapping whose queue would redeliver a message before the function's timeout.
    assert APP.resource("jobs_queue").visibility_timeout_s >= worker.timeout_s


def test_lookups_of_unknown_names_raise_key_error() -> None:
    with pytest.raises(KeyError, match="no function named 'nope'"):
        APP.function("nope")
    with pytest.raises(KeyError, match="no resource named 'nope'"):
        APP.resource("nope")


def swap(changed: Function) -> tuple[Function, ...]:
    """The shipped functions with one replaced by ``changed`` (same name)."""
    return tuple(changed if fn.name == changed.name else fn for fn in APP.functions)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"routes": (*APP.routes, Route("GET", "/x", "ghost"))}, "route GET /x names unknown function 'ghost'"),
        ({"routes": (*APP.routes, Route("GET", "/fhr", "fhr"))}, "duplicate route keys"),
        (
            {"functions": swap(dataclasses.replace(FHR_FUNCTION, grants=(Grant("attic", ("s3:GetObject",)),)))},
            "function fhr grants on unknown resource 'attic'",
        ),
        (
            {"functions": swap(dataclasses.replace(ITEMS_FUNCTION, resources=("attic",)))},
            "function items names unknown resource 'attic'",
        ),
        (
            {"functions": swap(dataclasses.replace(FHR_FUNCTION, trigger=QueueTrigger("results_table")))},
            "function fhr is triggered by 'results_table', which is not a queue",
        ),
        (
            {"resources": (*APP.resources, DataResource("spill", "queue", "SPILL_URL", dead_letter="items_table"))},
            "spill's dead-letter target 'items_table' is not a queue",
        ),
        (
            {"routes": (*APP.routes, Route("GET", "/open", "web", public=True, scopes=("fhr/read",)))},
            "route GET /open is public: it has no authorizer to check",
        ),
        (
            {"routes": (*APP.routes, Route("GET", "/x", "web", scopes=("admin",)))},
            "route GET /x has scope 'admin': want resource/action",
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


def test_bucket_names_are_valid_s3_names() -> None:
    from fhrapp.definition import bucket_name

    assert bucket_name("fhr-dev-ecg_bucket") == "fhr-dev-ecg-bucket"
    assert bucket_name("FHR-Prod-X") == "fhr-prod-x"


def test_output_keys_name_queues_by_url_and_the_one_dlq_as_dlq_url() -> None:
    from fhrapp.definition import APP

    keys = {res.logical: APP.output_key(res) for res in APP.resources}
    assert keys == {
        "ecg_bucket": "ecg_bucket",
        "results_table": "results_table",
        "items_table": "items_table",
        "jobs_dlq": "dlq_url",
        "jobs_queue": "jobs_queue_url",
    }


def test_every_data_route_asks_for_a_scope_and_the_items_route_for_both() -> None:
    assert all(route.scopes for route in APP.routes if not route.public)
    assert APP.scopes == ("fhr/read", "fhr/write", "items/read", "items/write")
    manager = next(r for r in APP.routes if r.path == "/DynamoDBManager")
    assert manager.scopes == ("items/read", "items/write")  # any of them at the gateway; the handler refines


def test_the_items_table_is_partitioned_by_tenant() -> None:
    items = APP.resource("items_table")
    assert (items.hash_key, items.range_key) == ("tenant", "id")


def test_the_shared_environment_says_how_callers_map_to_tenants() -> None:
    web = APP.function("web")
    jwt = function_environment(APP, web, "prod", {"ecg_bucket": "b"}, Tenancy(claim="custom:tenant"))
    assert jwt == {"ECG_BUCKET": "b", "STAGE": "prod", "FHR_TENANT_CLAIM": "custom:tenant"}
    assert (
        function_environment(APP, web, "dev", {"ecg_bucket": "b"}, Tenancy(open_tenant="open"))["FHR_OPEN_TENANT"]
        == "open"
    )
    for wrong in ({}, {"claim": "sub", "open_tenant": "open"}):
        with pytest.raises(ValueError, match="either a JWT claim or an open tenant"):
            Tenancy(**wrong)
