"""The FHR API: ``GET|POST /fhr``, ``POST /fhr/batch`` and ``GET /fhr/jobs/{id}``.

``GET /fhr?filename=s3://bucket/key`` is exactly the seed's request; ``POST /fhr`` takes
``{"filename", "options"}``. Both answer the estimator's JSON result plus ``"cached"``. A record
predicted not to finish inside API Gateway's 30 s (from its size and the measured throughput, or the
invocation's remaining time) is answered ``202 {"jobId", "status": "pending", "location"}`` and
finished by the queue worker (:mod:`handlers.api.worker`); ``GET /fhr/jobs/{id}`` serves it.

``POST /fhr/batch`` takes ``{"filenames": [...<=1000], "options"}``: every name is checked before
anything is written (one bad name fails the whole request with its index), then one job record,
one record per file and one queue message per file are written.

No job is lost or doubled by a retry (:mod:`handlers.api.jobs`): a one-file job is named after its
cache key, and a batch sent with an ``Idempotency-Key`` header after that key (per tenant), so the
same request again finds its job, and re-sends the messages a request that died half-way never sent.
A retried request whose record is already being computed by a job (or, in this environment, by the
background analysis a timed-out request left) joins it instead of starting a second one.

Tenancy (:mod:`handlers.api.tenancy`): every ``filename`` must lie under the caller's prefix
``tenants/<tenant>/`` (403 ``forbidden`` before any S3 call otherwise, the same for an object that
exists and one that does not); results are cached and jobs recorded for the caller's tenant only, and
``GET /fhr/jobs/{id}`` of another tenant's job answers 404 as a missing one does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

from handlers.api import clients
from handlers.api.analysis import (
    FILENAME_ERRORS,
    OPTIONS_ERRORS,
    OPTIONS_QUERY_ERRORS,
    RECORD_ERRORS,
    S3Target,
    analyse,
    parse_filename,
    parse_options,
)
from handlers.api.cache import ResultCache, options_hash
from handlers.api.contract import (
    HANDLER_ERRORS,
    Body,
    Operation,
    Param,
    Reply,
    array,
    boolean,
    codes,
    component,
    integer,
    nullable,
    number,
    obj,
    string,
)
from handlers.api.http import (
    ApiError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    Request,
    ServiceUnavailable,
    Unprocessable,
    api_handler,
    dumps,
    json_response,
)
from handlers.api.inputs import JSON_BODY_ERRORS, REQUEST_ERRORS, UNKNOWN_FIELD, parse_json
from handlers.api.jobs import (
    MAX_BATCH_FILES,
    IdempotencyConflict,
    JobMessage,
    JobStore,
    batch_job_id,
    enqueue,
    is_job_id,
    job_id_for,
    new_job_id,
    request_hash,
)
from handlers.api.results import INLINE_RESULT_MAX_BYTES, PAGE_MAX_BYTES, ResultObjects, StoredResult, escaped_size
from handlers.api.settings import API_LIMIT_S, Settings
from handlers.api.tenancy import CALLER_ERRORS, OWNER_ERRORS, Caller
from handlers.fhr.options import options_schema
from handlers.fhr.preload import preload
from handlers.fhr.result_schema import RESULT_LINK_SCHEMA, RESULT_SCHEMA
from handlers.metrics import emit as emit_metrics
from handlers.runtime import snapstart

logger = logging.getLogger("handlers.api.fhr")

MAX_JOB_PAGE = 1000
MAX_JOB_PAGE_WITH_RESULTS = 10
IDEMPOTENCY_HEADER = "idempotency-key"
_IDEMPOTENCY_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces, as Stripe's keys


async def init() -> None:
    """Open the S3 and DynamoDB clients every FHR request needs, once per execution environment.

    SQS only carries deferred and batch jobs: its client is opened by the first request that queues
    one (``clients.client("sqs")``), not by every cold start (~15-25 ms, bench_coldstart's ``eager-sqs``).
    With SnapStart the clients are re-opened after each restore and the estimator is loaded into the
    snapshot (``handlers.fhr.preload``).
    """
    await clients.open_services("s3", "dynamodb")
    clients.reopen_after_restore("s3", "dynamodb")
    snapstart.register_before_snapshot(preload)


async def shutdown() -> None:
    """Let analyses being abandoned finish stopping, then close the clients."""
    await drain(timeout_s=2.0)
    await clients.close()


_ABANDONED: set[asyncio.Task[Any]] = set()


def _abandon(task: asyncio.Task[Any]) -> None:
    """Stop an analysis that missed its request's deadline: its record is handed to the queue worker.

    Kept running, it would be frozen with the environment once the 202 is answered and resume inside
    the next caller's invocation, competing with it (and, finishing there, teaching the throughput
    estimate a speed that includes the freeze). Cancelling also stops the estimator's thread at its
    next stage (handlers.api.analysis._stoppable)."""
    task.cancel()
    _ABANDONED.add(task)
    task.add_done_callback(_ABANDONED.discard)


async def drain(timeout_s: float | None = None) -> None:
    """Wait for abandoned analyses to finish stopping (their threads reach their next stage)."""
    if _ABANDONED:
        await asyncio.wait(set(_ABANDONED), timeout=timeout_s)


@api_handler
async def handler(request: Request, context: Any) -> dict[str, Any]:
    route = _resolve(request)
    request.caller  # noqa: B018 - who is calling, before anything of the request is looked at
    return await route(request, context)


def _resolve(request: Request) -> Any:
    """By route key (API Gateway's), else by method and path (a ``$default`` route or a plain proxy)."""
    route = ROUTES.get(request.route_key)
    if route is not None:
        return route
    path = request.path.rstrip("/")
    template = "/fhr/jobs/{id}" if path.startswith("/fhr/jobs/") else path
    route = ROUTES.get(f"{request.method} {template}")
    if route is not None:
        return route
    if any(key.endswith(f" {template}") for key in ROUTES):
        raise MethodNotAllowed(f"{request.method} is not served on {request.path}")
    raise NotFound(f"no route {request.method} {request.path}", code="route_not_found")


async def get_fhr(request: Request, context: Any) -> dict[str, Any]:
    GET_FHR.check_query(request.query)
    options: Any = None
    if "options" in request.query:
        options = parse_json(request.query["options"], "the options query parameter", syntax_code="invalid_options")
    return await _analyse_one(request.caller, request.query.get("filename"), options, context)


async def post_fhr(request: Request, context: Any) -> dict[str, Any]:
    body = request.json_object()
    POST_FHR.check_body(body)
    return await _analyse_one(request.caller, body.get("filename"), body.get("options"), context)


def _owned_target(caller: Caller, filename: Any, settings: Settings) -> S3Target:
    """The caller's own object named by ``filename`` (400 malformed, 403 another bucket or tenant)."""
    target = parse_filename(filename, settings.ecg_bucket)
    caller.check_owns(target.key)
    return target


async def _analyse_one(caller: Caller, filename: Any, raw_options: Any, context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    target = _owned_target(caller, filename, settings)
    options = parse_options(raw_options)
    s3, dynamodb = await clients.client("s3"), await clients.client("dynamodb")
    cache = result_cache(settings, dynamodb, s3)
    budget = budget_s(context, settings) if settings.jobs_queue_url else None
    started = time.perf_counter()
    if budget is None:
        outcome = await analyse(s3, cache, settings, target, options, tenant=caller.tenant)
    else:
        work = _joined_analysis(s3, cache, settings, target, options, caller.tenant, budget)
        try:
            # The prediction can be wrong (a loaded machine, a slow read): the deadline is enforced too.
            outcome = await asyncio.wait_for(asyncio.shield(work), timeout=max(budget, 0.0))
        except TimeoutError:
            _abandon(work)
            pk, predicted_s = await _record_pk(s3, settings, target, options, caller.tenant)
            return await _defer(settings, caller, target, options, predicted_s, job_id=job_id_for(pk))
    if outcome.deferred:
        return await _defer(settings, caller, target, options, outcome.predicted_s, job_id=job_id_for(outcome.pk))
    _emit_outcome(outcome, (time.perf_counter() - started) * 1000, getattr(context, "aws_request_id", None))
    return json_response(200, await _served(outcome, cache))


def result_cache(settings: Settings, dynamodb: Any, s3: Any) -> ResultCache:
    """The results cache, with the stack's bucket for results too large for a DynamoDB item."""
    return ResultCache(dynamodb, settings.results_table, settings.result_ttl_s, ResultObjects(s3, settings.ecg_bucket))


async def _served(outcome: Any, cache: ResultCache) -> dict[str, Any]:
    """The 200 body: the result inline while it fits a response, else a link to its S3 object."""
    stored, objects = outcome.stored_result, cache.objects
    assert objects is not None
    if stored is None or stored.size <= INLINE_RESULT_MAX_BYTES:
        result = outcome.result if outcome.result is not None else await objects.load(stored)
        return {**result, "cached": outcome.cached}
    return {"resultLink": await objects.link(stored), "summary": outcome.summary, "cached": outcome.cached}


def _joined_analysis(
    s3: Any,
    cache: ResultCache,
    settings: Settings,
    target: S3Target,
    options: dict[str, Any],
    tenant: str,
    budget: float,
) -> asyncio.Future[Any]:
    """A new analysis of this record for this tenant that defers to the record's job when one is queued,
    so a retry never computes beside it. There is no running analysis to join: an environment serves one
    request at a time, and one that missed its deadline was abandoned (:func:`_abandon`)."""
    store = JobStore(cache.dynamodb, settings.results_table, settings.result_ttl_s)

    async def queued(pk: str) -> bool:
        return await store.file_status(job_id_for(pk), 0) == "pending"

    return asyncio.ensure_future(
        analyse(s3, cache, settings, target, options, tenant=tenant, budget_s=budget, queued=queued)
    )


async def _record_pk(
    s3: Any, settings: Settings, target: S3Target, options: dict[str, Any], tenant: str
) -> tuple[str, float]:
    """The cache key of the record as it is now (its objects' ETags), what names its one-file job, and the
    record's predicted analysis time (what the 202 promises as predictedSeconds; not the time the request had
    left, which is negative when less than the safety margin was)."""
    from handlers.api.analysis import THROUGHPUT, resolve_objects
    from handlers.api.cache import cache_key

    objects = await resolve_objects(s3, settings, target)
    pk = cache_key(tenant, target.bucket, target.key, objects.etags, options_hash(options))
    return pk, THROUGHPUT.predict_s(objects.size, settings)


def _emit_outcome(outcome: Any, elapsed_ms: float, request_id: str | None) -> None:
    """EMF: a hit counts; a miss counts with the time to produce the result and the bytes read for it."""
    if outcome.cached:
        values: dict[str, float] = {"CacheHits": 1}
    else:
        values = {"CacheMisses": 1, "FhrDurationMs": round(elapsed_ms, 3), "BytesStreamed": outcome.size}
    emit_metrics(values, properties={"requestId": request_id})


def budget_s(context: Any, settings: Settings) -> float:
    """Seconds this request may still spend computing: the API's limit or the invocation's, less a margin."""
    limit = API_LIMIT_S
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        limit = min(limit, remaining() / 1000.0)
    return limit - settings.safety_margin_s


async def _defer(
    settings: Settings, caller: Caller, target: S3Target, options: dict[str, Any], predicted_s: float, *, job_id: str
) -> dict[str, Any]:
    """Answer 202 and queue the record as a one-file job (joining that job if it is already queued)."""
    if not settings.jobs_queue_url:
        raise InternalError("the function is not configured with a jobs queue")
    store = JobStore(await clients.client("dynamodb"), settings.results_table, settings.result_ttl_s)
    if await store.create_single(job_id, target.uri, options, caller.tenant):
        message = JobMessage(job_id, 0, target.uri, options, caller.tenant)
        await _send(settings, [message])
        await store.mark_enqueued(job_id)
    location = f"/fhr/jobs/{job_id}"
    body = {"jobId": job_id, "status": "pending", "location": location, "predictedSeconds": round(predicted_s, 1)}
    return json_response(202, body, headers={"location": location})


async def _start_job(
    settings: Settings,
    caller: Caller,
    job_id: str,
    uris: list[str],
    options: dict[str, Any],
    kind: str,
    request: str | None = None,
) -> None:
    """Create (or find and repair) the job, send the messages of its files not known sent, mark it sent."""
    if not settings.jobs_queue_url:
        raise InternalError("the function is not configured with a jobs queue")
    store = JobStore(await clients.client("dynamodb"), settings.results_table, settings.result_ttl_s)
    try:
        unsent = await store.create(job_id, uris, options, kind, caller.tenant, request=request)
    except IdempotencyConflict:
        raise Unprocessable(
            "this Idempotency-Key was used for another request: send a new key for a new batch",
            code="idempotency_key_reused",
        ) from None
    if unsent:
        messages = [JobMessage(job_id, index, uris[index], options, caller.tenant) for index in unsent]
        await _send(settings, messages)
    await store.mark_enqueued(job_id)


async def _send(settings: Settings, messages: list[JobMessage]) -> None:
    """Queue the messages; SQS trouble is a 503 the client may retry: the same request repairs the job."""
    try:
        await enqueue(await clients.client("sqs"), settings.jobs_queue_url, messages)
    except Exception as exc:
        logger.warning("could not queue %d job message(s): %s", len(messages), type(exc).__name__)
        raise ServiceUnavailable(
            "the job is recorded but could not be queued yet: send the same request again", code="queue_unavailable"
        ) from None


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise BadRequest(
            "Idempotency-Key must be 1-255 printable ASCII characters without spaces", code="invalid_idempotency_key"
        )
    return key


async def post_batch(request: Request, context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    caller = request.caller
    key = _idempotency_key(request)
    body = request.json_object()
    POST_BATCH.check_body(body)
    filenames = body.get("filenames")
    if not isinstance(filenames, list) or not filenames:
        raise BadRequest("filenames must be a non-empty list of s3:// URIs", code="invalid_filenames")
    if len(filenames) > MAX_BATCH_FILES:
        raise BadRequest(f"at most {MAX_BATCH_FILES} filenames per batch, got {len(filenames)}", code="too_many_files")
    targets = [_indexed(index, name, caller, settings) for index, name in enumerate(filenames)]
    options = parse_options(body.get("options"))
    uris = [t.uri for t in targets]
    job_id = new_job_id() if key is None else batch_job_id(caller.tenant, key)
    request_digest = None if key is None else request_hash(uris, options)
    await _start_job(settings, caller, job_id, uris, options, kind="batch", request=request_digest)
    location = f"/fhr/jobs/{job_id}"
    answer = {"jobId": job_id, "status": "pending", "total": len(targets), "location": location}
    return json_response(202, answer, headers={"location": location})


def _indexed(index: int, name: Any, caller: Caller, settings: Settings) -> S3Target:
    try:
        return _owned_target(caller, name, settings)
    except ApiError as error:
        error.message = f"filenames[{index}]: {error.message}"
        raise


async def get_job(request: Request, context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    caller = request.caller
    job_id = request.path_params.get("id") or request.path.rstrip("/").rsplit("/", 1)[-1]  # as _resolve reads it
    if not is_job_id(job_id):
        raise BadRequest("a job id is 32 lowercase hex digits", code="invalid_job_id")
    GET_JOB.check_query(request.query)
    if request.query.get("results", "full") != "full":
        raise BadRequest("results may only be 'full' (every file's result)", code="invalid_results")
    offset, limit = _page(request.query, with_results="results" in request.query)
    dynamodb = await clients.client("dynamodb")
    store = JobStore(dynamodb, settings.results_table, settings.result_ttl_s)
    job = await store.job(job_id, caller.tenant)
    if job is None:
        raise NotFound(f"no job {job_id} (jobs expire with the results)", code="job_not_found")
    total = int(job["total"]["N"])
    with_results = total == 1 or "results" in request.query
    indexes = list(range(min(offset, total), min(offset + limit, total)))
    files = await store.files(job_id, indexes)
    cache = result_cache(settings, dynamodb, await clients.client("s3"))
    entries: list[dict[str, Any]] = []
    room = PAGE_MAX_BYTES  # Lambda answers at most 6 MB: the page ends before the entry that would not fit
    for index in indexes:
        entry = await _file_entry(index, files.get(index), cache, with_results, caller, room)
        size = escaped_size(dumps(entry)) + 1
        if entries and size > room:
            break
        entries.append(entry)
        room -= size
    return json_response(200, _job_body(job_id, job, entries, offset))


def _page(query: dict[str, str], with_results: bool) -> tuple[int, int]:
    offset = GET_JOB.query_int(query, "offset", code="invalid_page")
    cap = MAX_JOB_PAGE_WITH_RESULTS if with_results else None
    return offset, GET_JOB.query_int(query, "limit", code="invalid_page", maximum=cap)


async def _file_entry(
    index: int, item: dict[str, Any] | None, cache: ResultCache, with_results: bool, caller: Caller, room: int
) -> dict[str, Any]:
    if item is None:
        return {"index": index, "status": "unknown"}
    entry: dict[str, Any] = {"index": index, "filename": item["filename"]["S"], "status": item["status"]["S"]}
    if "cached" in item:
        entry["cached"] = item["cached"]["BOOL"]
    if "summary" in item:
        entry["summary"] = json.loads(item["summary"]["S"])
    if "error" in item:
        entry["error"] = json.loads(item["error"]["S"])
    if with_results and "result_pk" in item:
        found = await cache.lookup(item["result_pk"]["S"], caller.tenant)
        if isinstance(found, StoredResult):
            assert cache.objects is not None
            if found.size <= min(room, INLINE_RESULT_MAX_BYTES):
                entry["result"] = await cache.objects.load(found)
            else:
                entry["resultLink"] = await cache.objects.link(found)
        else:
            entry["result"] = found
    return entry


def _job_body(job_id: str, job: dict[str, Any], entries: list[dict[str, Any]], offset: int) -> dict[str, Any]:
    total = int(job["total"]["N"])
    done, failed = int(job["done_count"]["N"]), int(job["failed_count"]["N"])
    pending = max(total - done - failed, 0)
    status = "pending" if pending else ("failed" if done == 0 else "done")
    body: dict[str, Any] = {
        "jobId": job_id,
        "status": status,
        "total": total,
        "done": done,
        "failed": failed,
        "pending": pending,
        "offset": offset,
        "files": entries,
        "nextOffset": offset + len(entries) if offset + len(entries) < total else None,
    }
    if total == 1 and entries:
        body["result"] = entries[0].pop("result", None)
        body["error"] = entries[0].get("error")
        if "resultLink" in entries[0]:
            body["resultLink"] = entries[0].pop("resultLink")
    return body


ROUTES = {
    "GET /fhr": get_fhr,
    "POST /fhr": post_fhr,
    "POST /fhr/batch": post_batch,
    "GET /fhr/jobs/{id}": get_job,
}


# ---- the contract of these routes (handlers.api.contract; the OpenAPI document is built from it) ----------------

FHR_RESULT = component("FhrResult", RESULT_SCHEMA)
FHR_ANSWER = component(
    "FhrAnswer",
    {
        **RESULT_SCHEMA,
        "description": "the estimator's result, and whether it came from the results cache",
        "properties": {**RESULT_SCHEMA["properties"], "cached": boolean("served from the cache")},
        "required": [*RESULT_SCHEMA["required"], "cached"],
    },
)
RESULT_LINK = component("ResultLink", RESULT_LINK_SCHEMA)
FHR_LINKED_ANSWER = component(
    "FhrLinkedAnswer",
    obj(
        "a result too large for a response (Lambda answers at most 6 MB): its summary, and a link to fetch it",
        resultLink=RESULT_LINK,
        summary=RESULT_SCHEMA["properties"]["summary"],
        cached=boolean("served from the cache"),
    ),
)
OPTIONS = component("Options", options_schema())
JOB_ID = string("32 lowercase hex digits", pattern="^[0-9a-f]{32}$")
LOCATION = string("where the job is served: /fhr/jobs/{id}")
FILENAME = string(
    "s3://bucket/key of a record under the caller's prefix tenants/<tenant>/ in the stack's bucket (a WFDB record "
    "by its .hea)",
    pattern="^s3://",
    example="s3://fhr-dev-ecg-bucket/tenants/open/a01.hea",
)
DEFERRED = component(
    "JobAccepted",
    obj(
        "the record cannot finish within the API's 30 s: it was queued as a one-file job",
        jobId=JOB_ID,
        status=string(enum=["pending"]),
        location=LOCATION,
        predictedSeconds=number("the predicted analysis time, s", minimum=0),
    ),
)
ANALYSE_REPLIES = (
    Reply(200, "the FHR result, inline or (over 4 MB) as a link", {"oneOf": [FHR_ANSWER, FHR_LINKED_ANSWER]}),
    Reply(202, "deferred to a job: poll its location", DEFERRED, headers={"location": "/fhr/jobs/{id}"}),
)
QUEUE_ERRORS = codes(503, queue_unavailable="the job was recorded but not queued: send the same request again")
ANALYSE_ERRORS = (
    *CALLER_ERRORS,
    *OWNER_ERRORS,
    *FILENAME_ERRORS,
    *OPTIONS_ERRORS,
    *RECORD_ERRORS,
    *QUEUE_ERRORS,
    *HANDLER_ERRORS,
)
FILE_ERROR = obj(
    "why a file failed: the code and status its request would have answered (retries_exhausted: every delivery failed)",
    code=string(),
    message=string(),
    status=integer(minimum=400, maximum=599),
)
JOB_FILE = obj(
    "one file of the job (status unknown: its record has expired)",
    required=("index", "status"),
    index=integer(minimum=0),
    filename=string("the s3:// URI as given"),
    status=string(enum=["pending", "done", "failed", "unknown"]),
    cached=boolean("the result came from the cache"),
    summary=RESULT_SCHEMA["properties"]["summary"],
    error=FILE_ERROR,
    result=nullable(FHR_RESULT),
    resultLink=RESULT_LINK,
)
JOB = component(
    "Job",
    obj(
        "a job's counts and one page of its files",
        required=("jobId", "status", "total", "done", "failed", "pending", "offset", "files", "nextOffset"),
        jobId=JOB_ID,
        status=string(
            "pending while any file is; failed if none succeeded; else done", enum=["pending", "done", "failed"]
        ),
        total=integer(minimum=1),
        done=integer(minimum=0),
        failed=integer(minimum=0),
        pending=integer(minimum=0),
        offset=integer(minimum=0),
        files=array(JOB_FILE),
        nextOffset=nullable(integer("the offset of the next page", minimum=1)),
        result=nullable(FHR_RESULT),
        resultLink=RESULT_LINK,
        error=nullable(FILE_ERROR),
    ),
)

GET_FHR = Operation(
    summary="FHR of one record (the seed's request)",
    description="The estimator's result for the record, cached per tenant by bucket, key, ETag(s) and options.",
    params=(
        Param("filename", "query", "the record, s3://bucket/key", FILENAME, required=True),
        Param("options", "query", "estimator options as JSON text", json_schema=OPTIONS),
    ),
    replies=ANALYSE_REPLIES,
    errors=(*REQUEST_ERRORS, *UNKNOWN_FIELD, *OPTIONS_QUERY_ERRORS, *ANALYSE_ERRORS),
    tags=("fhr",),
)
POST_FHR = Operation(
    summary="FHR of one record, with options",
    description="As GET /fhr, with the options in a JSON body.",
    body=Body(obj(required=("filename",), filename=FILENAME, options=OPTIONS), "the record and the options"),
    replies=ANALYSE_REPLIES,
    errors=(*REQUEST_ERRORS, *JSON_BODY_ERRORS, *UNKNOWN_FIELD, *ANALYSE_ERRORS),
    tags=("fhr",),
)
POST_BATCH = Operation(
    summary="A batch job over many records",
    description=f"Every filename is checked before anything is written (one bad name fails the request, with its "
    f"index); then one queue message per file. At most {MAX_BATCH_FILES} files. With an Idempotency-Key the same "
    "request again answers the same job (and re-sends what a request that died half-way did not send); the same "
    "key with another body is refused (422 idempotency_key_reused). Keys are per tenant and live as long as the job.",
    params=(
        Param(
            "Idempotency-Key",
            "header",
            "makes a retried request find its job instead of creating another (1-255 printable ASCII characters)",
            string(pattern="^[\\x21-\\x7e]{1,255}$", maxLength=255),
        ),
    ),
    body=Body(
        obj(
            required=("filenames",),
            filenames=array(FILENAME, minItems=1, maxItems=MAX_BATCH_FILES),
            options=OPTIONS,
        ),
        "the records and the options for all of them",
    ),
    replies=(
        Reply(
            202,
            "the job: poll its location",
            obj(jobId=JOB_ID, status=string(enum=["pending"]), total=integer(minimum=1), location=LOCATION),
            headers={"location": "/fhr/jobs/{id}"},
        ),
    ),
    errors=(
        *REQUEST_ERRORS,
        *JSON_BODY_ERRORS,
        *UNKNOWN_FIELD,
        *codes(
            400,
            invalid_filenames="filenames is not a non-empty list",
            too_many_files=f"over {MAX_BATCH_FILES} files",
            invalid_idempotency_key="the Idempotency-Key header is not 1-255 printable ASCII characters",
        ),
        *codes(422, idempotency_key_reused="the Idempotency-Key was sent before with another body"),
        *QUEUE_ERRORS,
        *CALLER_ERRORS,
        *OWNER_ERRORS,
        *FILENAME_ERRORS,
        *OPTIONS_ERRORS,
        *HANDLER_ERRORS,
    ),
    tags=("fhr",),
)
GET_JOB = Operation(
    summary="A job's status and results",
    description="Counts and one page of files; a one-file job (a deferred record) carries its result. A result "
    "over 4 MB of JSON comes as a resultLink (a presigned GET) instead; a page ends before the file that would take "
    "it over 5 MB (Lambda answers at most 6 MB), so limit is a maximum and nextOffset says where to go on. Another "
    "tenant's job answers 404 as a missing one does.",
    params=(
        Param("id", "path", "the job id", JOB_ID),
        Param("offset", "query", "the first file of the page", integer(minimum=0, maximum=MAX_BATCH_FILES, default=0)),
        Param(
            "limit",
            "query",
            f"files per page at most (at most {MAX_JOB_PAGE_WITH_RESULTS} with results=full; fewer when their "
            "results would take the page over 5 MB)",
            integer(minimum=1, maximum=MAX_JOB_PAGE, default=100),
        ),
        Param("results", "query", "full: every file's result inline", string(enum=["full"])),
    ),
    replies=(Reply(200, "the job", JOB),),
    errors=(
        *REQUEST_ERRORS,
        *UNKNOWN_FIELD,
        *codes(
            400,
            invalid_job_id="the id is not 32 lowercase hex digits",
            invalid_results="results is not full",
            invalid_page="offset or limit is not an integer in its range, in ASCII digits",
        ),
        *codes(404, job_not_found="no such job of the caller's (jobs expire with the results)"),
        *CALLER_ERRORS,
        *HANDLER_ERRORS,
    ),
    tags=("jobs",),
)

CONTRACT = {
    "GET /fhr": GET_FHR,
    "POST /fhr": POST_FHR,
    "POST /fhr/batch": POST_BATCH,
    "GET /fhr/jobs/{id}": GET_JOB,
}
