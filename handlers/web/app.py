"""The web function: the page people use, presigned uploads, the list of stored recordings, the API's contract.

Routes (from the app definition): ``GET /`` serves one self-contained page (our CSS and JS and the
vendored uPlot inlined, so the stack needs no other hosting and the page no network beyond its own
API and the bucket); ``POST /uploads`` hands out presigned S3 POSTs whose policy enforces the size
and content type, so files go straight to S3 and never through Lambda's 6 MB payload limit;
``GET /recordings`` lists record files in the stack's bucket, paginated; ``GET /openapi.json`` serves
the OpenAPI 3.1 document of the stack's API (:mod:`handlers.api.openapi`), built from the route table the
function is deployed with. The page finds every path it calls in that same table (its ``routes`` config,
by operation id), so it follows a moved route.

Tenancy (:mod:`handlers.api.tenancy`): uploads go to ``tenants/<tenant>/uploads/<date>/<id>/<name>``
of the caller's tenant only (the policy pins that exact key, SigV4-signed with the function's session
credentials), and ``GET /recordings`` lists the caller's prefix only (``prefix`` in the query is
relative to it). Both answer the caller's ``prefix``, so a client that uploads with its own S3
credentials knows where its recordings belong.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handlers.api import clients
from handlers.api.contract import (
    HANDLER_ERRORS,
    Body,
    Operation,
    Param,
    Reply,
    array,
    codes,
    integer,
    obj,
    string,
)
from handlers.api.http import (
    ApiError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Request,
    api_handler,
    json_response,
)
from handlers.api.inputs import JSON_BODY_ERRORS, REQUEST_ERRORS, UNKNOWN_FIELD, check_object_key, only_fields
from handlers.api.tenancy import CALLER_ERRORS, TENANT_CLAIM_ENV, Caller

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor"
VENDOR_FILES = ("uPlot.iife.min.js", "uPlot.min.css")
RECORD_SUFFIXES = (".hea", ".csv", ".txt", ".tsv", ".edf")
UPLOAD_SUFFIXES = {
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".tsv": "text/tab-separated-values",
    ".edf": "application/octet-stream",
    ".hea": "application/octet-stream",
    ".dat": "application/octet-stream",
}
ALLOWED_CONTENT_TYPES = frozenset(
    set(UPLOAD_SUFFIXES.values()) | {"application/vnd.ms-excel", "application/edf", "text/x-csv"}
)
DEFAULT_MAX_UPLOAD_BYTES = 256 * 1024 * 1024
UPLOAD_EXPIRY_S = 900
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# The suffixes above in any case, for the contract (JSON Schema patterns have no case-insensitive flag).
UPLOAD_NAME_PATTERN = (
    r"\.(" + "|".join("".join(f"[{c.lower()}{c.upper()}]" for c in s[1:]) for s in UPLOAD_SUFFIXES) + ")$"
)

_page_template: str | None = None
logger = logging.getLogger("handlers.web")


class AssetsMissing(InternalError):
    """The bundle was built without the vendored charting library (``fhr bundle`` vendors it)."""

    code = "web_assets_missing"


def max_upload_bytes() -> int:
    return int(os.environ.get("MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))


def bucket() -> str:
    return os.environ["ECG_BUCKET"]


async def init() -> None:
    """Read the page once per environment and open the S3 client before the first request.

    Missing page assets must not stop the environment: uploads and the recordings list still work,
    and ``GET /`` answers a clear ``web_assets_missing`` error instead.
    """
    try:
        page_template()
    except AssetsMissing as exc:
        logger.warning("%s", exc)
    await clients.open_services("s3")
    clients.reopen_after_restore("s3")  # SnapStart only


async def shutdown() -> None:
    await clients.close()


def page_template() -> str:
    """index.html with our CSS/JS and the vendored uPlot inlined (config is filled per request)."""
    global _page_template
    if _page_template is None:
        missing = [name for name in VENDOR_FILES if not (VENDOR / name).is_file()]
        if missing:
            raise AssetsMissing(f"web assets not vendored ({', '.join(missing)}); run `fhr vendor-web`")
        parts = {
            "/*@VENDOR_CSS@*/": (VENDOR / "uPlot.min.css").read_text(),
            "/*@APP_CSS@*/": (STATIC / "style.css").read_text(),
            "/*@VENDOR_JS@*/": (VENDOR / "uPlot.iife.min.js").read_text(),
            "/*@CTG_JS@*/": (STATIC / "ctg.js").read_text(),
            "/*@APP_JS@*/": (STATIC / "app.js").read_text(),
        }
        page = (STATIC / "index.html").read_text()
        for marker, text in parts.items():
            page = page.replace(marker, text.replace("</script", "<\\/script"))
        _page_template = page
    return _page_template


def render_page() -> str:
    """The page with its config: the bucket, the upload limit and the path of every route by operation id."""
    from handlers.api.openapi import routes_from_env

    config = {
        "bucket": bucket(),
        "stage": os.environ.get("STAGE", ""),
        "maxUploadBytes": max_upload_bytes(),
        "routes": {route.operation_id: route.path for route in routes_from_env(os.environ)},
    }
    return page_template().replace("/*@CONFIG@*/{}", json.dumps(config).replace("<", "\\u003c"))


def html_response(body: str) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"content-type": "text/html; charset=utf-8", "cache-control": "no-cache"},
        "body": body,
        "isBase64Encoded": False,
    }


def safe_name(name: str) -> str:
    """A file name reduced to a safe S3 key segment (no paths, no odd characters)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _SAFE_NAME.sub("_", base).strip("._") or "record"
    return cleaned[:120]


def _upload_specs(body: dict[str, Any]) -> list[dict[str, Any]]:
    CREATE_UPLOADS.check_body(body)
    files = body.get("files")
    if not isinstance(files, list) or not 1 <= len(files) <= 2:
        raise BadRequest("'files' must list one file, or a WFDB .hea and its .dat", code="invalid_files")
    specs = []
    for i, item in enumerate(files):
        if not isinstance(item, dict):
            raise BadRequest(f"files[{i}] must be an object with name, size and contentType", code="invalid_files")
        only_fields(item, set(UPLOAD_FILE["properties"]), f"files[{i}]")
        name, size, ctype = item.get("name"), item.get("size"), item.get("contentType") or "application/octet-stream"
        if not isinstance(name, str) or not name.strip():
            raise BadRequest(f"files[{i}].name must be a non-empty string", code="invalid_files")
        suffix = Path(safe_name(name)).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise BadRequest(
                f"{name}: unsupported file type {suffix or '(none)'}; send CSV, EDF or WFDB (.hea + .dat)",
                code="unsupported_format",
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise BadRequest(f"files[{i}].size must be a positive integer (bytes)", code="invalid_files")
        if size > max_upload_bytes():
            raise PayloadTooLarge(f"{name} is {size} bytes; the limit is {max_upload_bytes()} bytes", code="too_large")
        if not isinstance(ctype, str) or ctype.split(";")[0].strip() not in ALLOWED_CONTENT_TYPES:
            raise BadRequest(f"{name}: content type {ctype!r} is not accepted", code="unsupported_content_type")
        specs.append({"name": name, "safe": safe_name(name), "suffix": suffix, "contentType": ctype.split(";")[0]})
    return _check_wfdb_pair(specs)


def _check_wfdb_pair(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    suffixes = sorted(s["suffix"] for s in specs)
    if len(specs) == 2:
        stems = {Path(s["safe"]).stem for s in specs}
        if suffixes != [".dat", ".hea"] or len(stems) != 1:
            raise BadRequest("two files must be a WFDB pair: NAME.hea and NAME.dat", code="invalid_files")
    elif suffixes == [".hea"]:
        raise BadRequest("a WFDB header needs its .dat: select both files", code="invalid_files")
    elif suffixes == [".dat"]:
        raise BadRequest("a WFDB .dat needs its .hea: select both files", code="invalid_files")
    return specs


async def create_uploads(request: Request, caller: Caller) -> dict[str, Any]:
    specs = _upload_specs(request.json_object())
    prefix = f"{caller.uploads_prefix}{datetime.now(UTC):%Y-%m-%d}/{uuid.uuid4().hex[:12]}"
    s3 = await clients.client("s3")
    uploads = []
    for spec in specs:
        key = f"{prefix}/{spec['safe']}"
        post = await s3.generate_presigned_post(
            bucket(),
            key,
            Fields={"Content-Type": spec["contentType"]},
            Conditions=[["content-length-range", 1, max_upload_bytes()], {"Content-Type": spec["contentType"]}],
            ExpiresIn=UPLOAD_EXPIRY_S,
        )
        uploads.append({"name": spec["name"], "key": key, "url": post["url"], "fields": post["fields"]})
    main = next((u for u, s in zip(uploads, specs, strict=True) if s["suffix"] != ".dat"), uploads[0])
    body = {
        "uploads": uploads,
        "record": main["key"],
        "prefix": caller.prefix,
        "maxBytes": max_upload_bytes(),
        "expiresIn": UPLOAD_EXPIRY_S,
    }
    return json_response(201, body)


def _decode_token(token: str | None, caller: Caller) -> str | None:
    if not token:
        return None
    try:
        key = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise BadRequest("nextToken is not one this API issued", code="invalid_token") from None
    key = check_object_key(key, "nextToken", "invalid_token")
    if not key.startswith(caller.prefix):
        raise BadRequest("nextToken is not one this API issued", code="invalid_token")
    return key


async def list_recordings(request: Request, caller: Caller) -> dict[str, Any]:
    """Record files (a WFDB record by its .hea) under the caller's prefix, ``limit`` per page."""
    LIST_RECORDINGS.check_query(request.query)
    limit = LIST_RECORDINGS.query_int(request.query, "limit", code="invalid_limit")
    start_after = _decode_token(request.query.get("nextToken"), caller)
    prefix = caller.prefix + check_object_key(request.query.get("prefix", ""), "prefix", "invalid_prefix")
    s3 = await clients.client("s3")
    found: list[dict[str, Any]] = []
    last_key = start_after
    truncated = True
    while len(found) < limit and truncated:
        kwargs: dict[str, Any] = {"Bucket": bucket(), "MaxKeys": 1000, "Prefix": prefix}
        if last_key:
            kwargs["StartAfter"] = last_key
        page = await s3.list_objects_v2(**kwargs)
        truncated = bool(page.get("IsTruncated"))
        for listed in page.get("Contents", []):
            last_key = listed["Key"]
            if listed["Key"].lower().endswith(RECORD_SUFFIXES):
                found.append(
                    {"key": listed["Key"], "size": listed["Size"], "lastModified": listed["LastModified"].isoformat()}
                )
                if len(found) == limit:
                    truncated = truncated or last_key != page["Contents"][-1]["Key"]
                    break
    body: dict[str, Any] = {"prefix": caller.prefix, "recordings": found}
    if truncated and last_key:
        body["nextToken"] = base64.urlsafe_b64encode(last_key.encode()).decode()
    return json_response(200, body)


async def page(request: Request) -> dict[str, Any]:
    return html_response(render_page())


async def uploads(request: Request) -> dict[str, Any]:
    return await create_uploads(request, request.caller)


async def recordings(request: Request) -> dict[str, Any]:
    return await list_recordings(request, request.caller)


async def openapi(request: Request) -> dict[str, Any]:
    """The stack's OpenAPI document (built once per environment), its server the URL this request came to."""
    global _document
    if _document is None:
        from handlers.api.openapi import document, routes_from_env

        _document = document(routes_from_env(os.environ), jwt=bool(os.environ.get(TENANT_CLAIM_ENV)))
    server = f"{request.headers.get('x-forwarded-proto', 'https')}://{request.headers.get('host', '')}"
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "cache-control": "no-cache"},
        "body": json.dumps({**_document, "servers": [{"url": server}]}),
        "isBase64Encoded": False,
    }


_document: dict[str, Any] | None = None

ROUTES = {
    "GET /": page,
    "POST /uploads": uploads,
    "GET /recordings": recordings,
    "GET /openapi.json": openapi,
}


@api_handler
async def _route(request: Request, context: Any) -> dict[str, Any]:
    """By route key (API Gateway's), else by method and path (a ``$default`` route or a plain proxy)."""
    route = ROUTES.get(request.route_key) or ROUTES.get(f"{request.method} {request.path or '/'}")
    if route is not None:
        return await route(request)
    if any(key.endswith(f" {request.path}") for key in ROUTES):
        raise MethodNotAllowed(f"{request.method} is not served on {request.path}")
    raise NotFound(f"no route for {request.method} {request.path}", code="route_not_found")


async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (``handlers.web.app.handler``)."""
    return await _route(event, context)


# ---- the contract of these routes (handlers.api.contract) ------------------------------------------------------------

UPLOAD_FILE = obj(
    "a file to upload",
    required=("name", "size"),
    name=string(
        "the file's name (reduced to a safe key segment): .csv, .txt, .tsv, .edf, or a WFDB pair's .hea and .dat",
        minLength=1,
        pattern=UPLOAD_NAME_PATTERN,
    ),
    size=integer("bytes", minimum=1),
    contentType=string("its content type (default application/octet-stream)", enum=sorted(ALLOWED_CONTENT_TYPES)),
)
CREATE_UPLOADS = Operation(
    summary="Presigned S3 POSTs for a recording",
    description="One file (CSV, EDF) or a WFDB pair (NAME.hea + NAME.dat), uploaded straight to S3 under the caller's "
    "prefix; the policy pins the exact key, the size and the content type.",
    body=Body(obj(files=array(UPLOAD_FILE, minItems=1, maxItems=2)), "the files to upload"),
    replies=(
        Reply(
            201,
            "where and how to POST each file, and the record's key (a WFDB pair's .hea)",
            obj(
                uploads=array(
                    obj(
                        name=string(),
                        key=string("the object key under tenants/<tenant>/uploads/"),
                        url=string("the URL to POST the form to"),
                        fields={"type": "object", "additionalProperties": string(), "description": "form fields"},
                    )
                ),
                record=string("the key to analyse"),
                prefix=string("the caller's own prefix, tenants/<tenant>/"),
                maxBytes=integer(minimum=1),
                expiresIn=integer("seconds the POSTs stay valid", minimum=1),
            ),
        ),
    ),
    errors=(
        *REQUEST_ERRORS,
        *JSON_BODY_ERRORS,
        *UNKNOWN_FIELD,
        *CALLER_ERRORS,
        *codes(
            400,
            invalid_files="files is not one file or a WFDB .hea + .dat pair of objects with a name and a size",
            unsupported_format="a file's type is not CSV, TXT, TSV, EDF or WFDB (.hea, .dat)",
            unsupported_content_type="a file's content type is not one the upload policy accepts",
        ),
        *codes(413, too_large="a file is over the stack's upload limit (MAX_UPLOAD_BYTES, 256 MB by default)"),
        *HANDLER_ERRORS,
    ),
    tags=("recordings",),
)
LIST_RECORDINGS = Operation(
    summary="The caller's recordings",
    description="Record files (a WFDB record by its .hea) under the caller's own prefix, which the answer names.",
    params=(
        Param("limit", "query", "recordings per page", integer(minimum=1, maximum=1000, default=50)),
        Param("nextToken", "query", "the nextToken of the previous page"),
        Param("prefix", "query", "only keys under this prefix, relative to the caller's own"),
    ),
    replies=(
        Reply(
            200,
            "one page of recordings and the caller's prefix",
            obj(
                required=("prefix", "recordings"),
                prefix=string("the caller's own prefix, tenants/<tenant>/"),
                recordings=array(
                    obj(key=string(), size=integer("bytes", minimum=0), lastModified=string(format="date-time"))
                ),
                nextToken=string("pass it back for the next page"),
            ),
        ),
    ),
    errors=(
        *REQUEST_ERRORS,
        *UNKNOWN_FIELD,
        *CALLER_ERRORS,
        *codes(
            400,
            invalid_limit="limit is not an integer from 1 to 1000 in ASCII digits",
            invalid_token="nextToken is not one this API issued for the caller",
            invalid_prefix="prefix is over 1024 bytes or holds control characters",
        ),
        *HANDLER_ERRORS,
    ),
    tags=("recordings",),
)
CONTRACT = {
    "GET /": Operation(
        summary="The web page",
        description="One self-contained page: upload a recording, analyse it, read the CTG. Public: a browser "
        "navigating to it sends no token (the page then asks for one).",
        replies=(Reply(200, "the page", string(), media_type="text/html"),),
        errors=(
            *REQUEST_ERRORS,
            *codes(500, web_assets_missing="the bundle was built without the page's assets"),
            *HANDLER_ERRORS,
        ),
        tags=("page",),
    ),
    "POST /uploads": CREATE_UPLOADS,
    "GET /recordings": LIST_RECORDINGS,
    "GET /openapi.json": Operation(
        summary="This document",
        description="The OpenAPI 3.1 document of the stack's API, for client generators and fuzzers. Public.",
        replies=(Reply(200, "the OpenAPI document", {"type": "object", "required": ["openapi", "paths"]}),),
        errors=(*REQUEST_ERRORS, *HANDLER_ERRORS),
        tags=("contract",),
    ),
}


__all__ = ["ApiError", "handler", "init", "shutdown"]
