"""Tenant isolation over EVERY route of the app definition, in the prod stack's local cloud (JWT).

The local cloud is the JWT issuer, so the tests mint tokens for two tenants, ``alice`` (who owns a
recording, a cached result, a finished batch job and an item) and ``bob`` (who tries to reach them),
and tokens lacking each scope. Every attempt must fail with the documented status and write nothing:
the bucket, the results table, the items table and the jobs queue are read (with the local cloud's
own S3/DynamoDB/SQS endpoint) before and after each one. The matrix covers every route: a route
missing from ``ATTEMPTS`` fails the suite.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from fhrapp.definition import APP

# Generated only for a target that mints tokens for chosen tenants and scopes (the local cloud of a JWT
# stack), not skipped on the others (tests/contract/conftest.py).
pytestmark = [pytest.mark.contract, pytest.mark.target_with(mints_tokens=True)]

FORBIDDEN = (403, {"message": "Forbidden"})  # API Gateway's answer to a token without the route's scope
TENANTS = ("alice", "bob")


@pytest.fixture(scope="module")
def jwt_target(target: Any) -> Any:
    assert target.issuer_url, "generated only for targets that mint tokens (target_with(mints_tokens=True))"
    return target


def fhr_query(filename: str) -> str:
    return "/fhr?" + urllib.parse.urlencode({"filename": filename})


@dataclass
class World:
    """What alice owns, and the tokens of everyone who tries to reach it."""

    target: Any
    tokens: dict[str, str]
    record: str  # s3://bucket/tenants/alice/... of alice's recording (uploaded with a presigned POST)
    absent: str  # a name under alice's prefix that does not exist
    job_id: str
    item_id: str

    def state(self) -> dict[str, Any]:
        """Everything alice or bob have stored: objects, results/jobs, items, queued messages."""
        import boto3

        o = self.target.outputs
        kw = {"endpoint_url": o["aws_endpoint_url"], "region_name": o["region"]}
        kw |= {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
        s3, dynamodb, sqs = boto3.client("s3", **kw), boto3.client("dynamodb", **kw), boto3.client("sqs", **kw)
        objects = {
            obj["Key"]: obj["ETag"]
            for tenant in TENANTS
            for obj in s3.list_objects_v2(Bucket=o["ecg_bucket"], Prefix=f"tenants/{tenant}/").get("Contents", [])
        }

        def owned(table: str) -> list[Any]:
            items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
            mine = [i for i in items if i.get("tenant", {}).get("S") in TENANTS or "tenant" not in i]
            return sorted(json.dumps(i, sort_keys=True, default=str) for i in mine)

        attributes = sqs.get_queue_attributes(QueueUrl=o["jobs_queue_url"], AttributeNames=["All"])["Attributes"]
        queued = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        return {
            "objects": objects,
            "results": owned(o["results_table"]),
            "items": owned(o["items_table"]),
            "queued": queued,
        }


async def presigned_upload(target: Any, token: str, files: dict[str, bytes], key: str | None = None) -> list:
    """``POST /uploads`` for ``files`` (name -> bytes), then the browser's form POST of each to S3
    (``key`` replaces the signed key in the form); returns (status, S3's answer, signed key) per file."""
    specs = [
        {"name": name, "size": len(body), "contentType": "application/octet-stream"} for name, body in files.items()
    ]
    status, _, answer = await target.request("POST", "/uploads", token, json={"files": specs})
    assert status == 201, answer
    outcomes = []
    async with aiohttp.ClientSession() as session:
        for upload in answer["uploads"]:
            form = aiohttp.FormData()
            for field, value in upload["fields"].items():
                form.add_field(field, key if (field == "key" and key) else value)
            form.add_field("file", files[upload["name"]], filename=upload["name"])
            async with session.post(upload["url"], data=form) as response:
                outcomes.append((response.status, await response.text(), upload["key"]))
    return outcomes


def build_world(target: Any, set_a_dir: Any) -> World:
    return asyncio.run(_build_world(target, set_a_dir))


async def _build_world(target: Any, set_a_dir: Any) -> World:
    tokens = {tenant: target.mint(sub=tenant) for tenant in TENANTS}
    assert target.prefix(tokens["alice"]) == "tenants/alice/"
    # alice's recording, through the page's path: one presigned POST per file of a WFDB pair
    stem = "Alice_Martin_1990-07-14"
    header = (set_a_dir / "a03.hea").read_bytes().replace(b"a03.dat", f"{stem}.dat".encode())
    files = {f"{stem}.hea": header.replace(b"a03 ", f"{stem} ".encode(), 1)}
    files[f"{stem}.dat"] = (set_a_dir / "a03.dat").read_bytes()
    target.uploaded_names.update(files)
    outcomes = await presigned_upload(target, tokens["alice"], files)
    assert [status for status, _, _ in outcomes] == [204, 204], outcomes
    record = f"s3://{target.outputs['ecg_bucket']}/{next(k for _, _, k in outcomes if k.endswith('.hea'))}"
    status, _, result = await target.request("GET", fhr_query(record), tokens["alice"])
    assert status == 200, result  # alice's cached result
    status, _, job = await target.request("POST", "/fhr/batch", tokens["alice"], json={"filenames": [record]})
    assert status == 202, job
    for _ in range(240):  # the worker finishes the job (a cache hit), so nothing moves during the matrix
        status, _, progress = await target.request("GET", f"/fhr/jobs/{job['jobId']}", tokens["alice"])
        if progress["status"] != "pending":
            break
        await asyncio.sleep(0.25)
    assert progress["status"] == "done", progress
    body = {"operation": "create", "payload": {"Item": {"id": "alice-notes", "note": "private"}}}
    status, _, created = await target.request("POST", "/DynamoDBManager", tokens["alice"], json=body)
    assert status == 201, created
    absent = f"s3://{target.outputs['ecg_bucket']}/tenants/alice/no-such-record.hea"
    world = World(target, tokens, record, absent, job["jobId"], "alice-notes")
    owned = await asyncio.to_thread(world.state)  # what "writes nothing" is checked on is really there
    assert len(owned["objects"]) == 2 and len(owned["items"]) == 1 and owned["queued"] == 0, owned
    assert len(owned["results"]) == 3, owned  # alice's cached result, the job and its file record
    return world


@pytest.fixture(scope="module")
def world(jwt_target: Any, set_a_dir: Any) -> World:
    return build_world(jwt_target, set_a_dir)


def manager(operation: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"operation": operation, **({"payload": payload} if payload is not None else {})}


Attempt = Callable[[World, str], Awaitable[tuple[int, Any, Any]]]


async def bob_reads_alices_record(world: World, token: str) -> tuple[int, Any, Any]:
    return await world.target.request("GET", fhr_query(world.record), token)


async def bob_posts_alices_record(world: World, token: str) -> tuple[int, Any, Any]:
    return await world.target.request("POST", "/fhr", token, json={"filename": world.record, "options": {}})


async def bob_batches_alices_record(world: World, token: str) -> tuple[int, Any, Any]:
    return await world.target.request("POST", "/fhr/batch", token, json={"filenames": [world.record]})


async def bob_reads_alices_job(world: World, token: str) -> tuple[int, Any, Any]:
    return await world.target.request("GET", f"/fhr/jobs/{world.job_id}?results=full", token)


async def bob_reads_alices_item(world: World, token: str) -> tuple[int, Any, Any]:
    body = manager("read", {"Key": {"id": world.item_id}})
    return await world.target.request("POST", "/DynamoDBManager", token, json=body)


async def bob_updates_alices_item(world: World, token: str) -> tuple[int, Any, Any]:
    update = {"Key": {"id": world.item_id}, "UpdateExpression": "SET note = :n", "ExpressionAttributeValues": {":n": 1}}
    return await world.target.request("POST", "/DynamoDBManager", token, json=manager("update", update))


async def bob_deletes_alices_item(world: World, token: str) -> tuple[int, Any, Any]:
    body = manager("delete", {"Key": {"id": world.item_id}})
    return await world.target.request("POST", "/DynamoDBManager", token, json=body)


async def bob_lists_items(world: World, token: str) -> tuple[int, Any, Any]:
    return await world.target.request("POST", "/DynamoDBManager", token, json=manager("list", {"Limit": 100}))


async def bob_lists_recordings(world: World, token: str) -> tuple[int, Any, Any]:
    return await world.target.request("GET", "/recordings?limit=1000&prefix=../alice/", token)


async def bob_uploads_into_alices_prefix(world: World, token: str) -> tuple[int, Any, Any]:
    """Bob's own presigned POST, its form's key changed to one under alice's prefix: S3 refuses it."""
    world.target.uploaded_names.add("Bob_planted.csv")
    planted = "tenants/alice/uploads/planted.csv"
    ((status, text, _),) = await presigned_upload(world.target, token, {"Bob_planted.csv": b"1,2\n"}, key=planted)
    return status, {}, text


async def bob_opens_the_page(world: World, token: str) -> tuple[int, Any, Any]:
    return await world.target.request("GET", "/", token)


async def bob_reads_the_contract(world: World, token: str) -> tuple[int, Any, Any]:
    return await world.target.request("GET", "/openapi.json", token)


def same_as_absent(expected_code: str) -> Callable[[World, tuple[int, Any, Any]], Awaitable[None]]:
    """The answer equals the one for a name that does not exist (403 ``forbidden``): no existence oracle."""

    async def check(world: World, answer: tuple[int, Any, Any]) -> None:
        status, _, body = answer
        absent = await world.target.request("GET", fhr_query(world.absent), world.tokens["bob"])
        assert (status, body["code"]) == (403, expected_code), body
        assert (absent[0], {k: v for k, v in absent[2].items() if k != "requestId"}) == (
            403,
            {k: v for k, v in body.items() if k != "requestId"},
        )

    return check


async def same_as_unknown_job(world: World, answer: tuple[int, Any, Any]) -> None:
    status, _, body = answer
    unknown = "0" * 32
    _, _, other = await world.target.request("GET", f"/fhr/jobs/{unknown}?results=full", world.tokens["bob"])
    assert (status, body["code"]) == (404, "job_not_found"), body
    assert body["message"].replace(world.job_id, unknown) == other["message"]


def status_code(status: int, code: str) -> Callable[[World, tuple[int, Any, Any]], Awaitable[None]]:
    async def check(world: World, answer: tuple[int, Any, Any]) -> None:
        assert (answer[0], answer[2]["code"]) == (status, code), answer[2]

    return check


async def empty_list(world: World, answer: tuple[int, Any, Any]) -> None:
    assert answer[0] == 200 and answer[2]["Items"] == [] and answer[2]["Count"] == 0, answer[2]


async def own_prefix_only(world: World, answer: tuple[int, Any, Any]) -> None:
    status, _, body = answer
    assert status == 200 and body["prefix"] == "tenants/bob/" and body["recordings"] == [], body


async def refused_by_s3(world: World, answer: tuple[int, Any, Any]) -> None:
    status, _, text = answer
    assert status == 403 and "<Code>AccessDenied</Code>" in text and '"$key"' in text, text


async def the_public_page(world: World, answer: tuple[int, Any, Any]) -> None:
    assert answer[0] == 200 and b"<html" in answer[2][:200].lower(), answer[0]


async def the_same_document_for_everyone(world: World, answer: tuple[int, Any, Any]) -> None:
    """The contract is public and names no tenant: every caller gets the same document."""
    _, _, anonymous = await world.target.request("GET", "/openapi.json", headers={"Authorization": ""})
    assert answer[0] == 200 and answer[2] == anonymous and "tenants/alice" not in str(answer[2]), answer[0]


# route key -> the cross-tenant attempts on it, each with the documented answer
ATTEMPTS: dict[str, list[tuple[Attempt, Callable[[World, tuple[int, Any, Any]], Awaitable[None]]]]] = {
    "GET /fhr": [(bob_reads_alices_record, same_as_absent("forbidden"))],
    "POST /fhr": [(bob_posts_alices_record, same_as_absent("forbidden"))],
    "POST /fhr/batch": [(bob_batches_alices_record, status_code(403, "forbidden"))],
    "GET /fhr/jobs/{id}": [(bob_reads_alices_job, same_as_unknown_job)],
    "POST /DynamoDBManager": [
        (bob_reads_alices_item, status_code(404, "item_not_found")),
        (bob_updates_alices_item, status_code(404, "item_not_found")),
        (bob_deletes_alices_item, status_code(404, "item_not_found")),
        (bob_lists_items, empty_list),
    ],
    "GET /": [(bob_opens_the_page, the_public_page)],
    "GET /openapi.json": [(bob_reads_the_contract, the_same_document_for_everyone)],
    "POST /uploads": [(bob_uploads_into_alices_prefix, refused_by_s3)],
    "GET /recordings": [(bob_lists_recordings, own_prefix_only)],
}
CASES = [
    pytest.param(route, attempt, check, id=f"{route} {attempt.__name__}")
    for route, attempts in ATTEMPTS.items()
    for attempt, check in attempts
]


def test_the_matrix_covers_every_route_of_the_app() -> None:
    assert set(ATTEMPTS) == {route.route_key for route in APP.routes}


@pytest.mark.parametrize(("route", "attempt", "check"), CASES)
async def test_a_cross_tenant_attempt_fails_as_documented_and_writes_nothing(
    world: World, route: str, attempt: Attempt, check: Any
) -> None:
    before = await asyncio.to_thread(world.state)
    answer = await attempt(world, world.tokens["bob"])
    await check(world, answer)
    assert await asyncio.to_thread(world.state) == before


async def test_alice_still_has_all_she_owns_after_the_matrix(world: World) -> None:
    token = world.tokens["alice"]
    status, _, result = await world.target.request("GET", fhr_query(world.record), token)
    assert status == 200 and result["cached"] is True
    status, _, job = await world.target.request("GET", f"/fhr/jobs/{world.job_id}", token)
    assert (status, job["status"]) == (200, "done")
    read = manager("read", {"Key": {"id": world.item_id}})
    status, _, item = await world.target.request("POST", "/DynamoDBManager", token, json=read)
    assert (status, item) == (200, {"Item": {"id": world.item_id, "note": "private"}})
    status, _, listing = await world.target.request("GET", "/recordings", token)
    assert world.record.split("/", 3)[3] in [r["key"] for r in listing["recordings"]]


# ---- scopes: a token without the route's scope --------------------------------------------------


def request_for(route_key: str, world: World) -> tuple[str, str, dict[str, Any]]:
    """A request to ``route_key`` that the owner's token would have had answered."""
    method, path = route_key.split(" ", 1)
    bodies: dict[str, dict[str, Any]] = {
        "GET /fhr": {},
        "POST /fhr": {"json": {"filename": world.record}},
        "POST /fhr/batch": {"json": {"filenames": [world.record]}},
        "POST /DynamoDBManager": {"json": manager("create", {"Item": {"id": "scoped-out"}})},
        "POST /uploads": {"json": {"files": [{"name": "x.csv", "size": 1, "contentType": "text/csv"}]}},
    }
    path = {"GET /fhr": fhr_query(world.record), "GET /fhr/jobs/{id}": f"/fhr/jobs/{world.job_id}"}.get(route_key, path)
    return method, path, bodies.get(route_key, {})


SCOPED_ROUTES = [r.route_key for r in APP.routes if r.scopes]


@pytest.mark.parametrize("route_key", SCOPED_ROUTES)
async def test_a_token_without_any_of_the_routes_scopes_is_refused_by_the_gateway(world: World, route_key: str) -> None:
    route = next(r for r in APP.routes if r.route_key == route_key)
    others = [s for s in APP.scopes if s not in route.scopes]
    token = world.target.mint(sub="alice", scope=" ".join(others))
    method, path, kwargs = request_for(route_key, world)
    before = await asyncio.to_thread(world.state)
    status, headers, body = await world.target.request(method, path, token, **kwargs)
    assert (status, body) == FORBIDDEN
    assert 'error="insufficient_scope"' in headers["www-authenticate"]
    assert await asyncio.to_thread(world.state) == before


@pytest.mark.parametrize(
    ("scope", "operation", "payload"),
    [
        ("items/read", "create", {"Item": {"id": "read-only"}}),
        ("items/read", "update", {"Key": {"id": "alice-notes"}, "UpdateExpression": "REMOVE note"}),
        ("items/read", "delete", {"Key": {"id": "alice-notes"}}),
        ("items/write", "read", {"Key": {"id": "alice-notes"}}),
        ("items/write", "list", {}),
    ],
)
async def test_the_manager_needs_the_finer_scope_of_each_operation(
    world: World, scope: str, operation: str, payload: dict[str, Any]
) -> None:
    """The gateway admits items/read OR items/write; the handler requires the operation's own."""
    token = world.target.mint(sub="alice", scope=scope)
    before = await asyncio.to_thread(world.state)
    status, _, body = await world.target.request("POST", "/DynamoDBManager", token, json=manager(operation, payload))
    assert (status, body["code"]) == (403, "insufficient_scope"), body
    assert await asyncio.to_thread(world.state) == before


@pytest.mark.parametrize("route_key", [r.route_key for r in APP.routes if not r.public])
async def test_a_verified_token_without_the_tenant_claim_reaches_nothing(world: World, route_key: str) -> None:
    token = world.target.mint(sub=None)
    method, path, kwargs = request_for(route_key, world)
    before = await asyncio.to_thread(world.state)
    status, _, body = await world.target.request(method, path, token, **kwargs)
    assert (status, body["code"]) == (403, "missing_tenant"), body
    assert await asyncio.to_thread(world.state) == before
