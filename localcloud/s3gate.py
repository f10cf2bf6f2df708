"""An S3 front for the local cloud that enforces presigned POST policies, which moto does not.

moto accepts any browser-form POST whatever its policy says (checked: an oversize file and a wrong
content type both answer 204). In AWS the policy is what limits uploads from the web page, so the
local cloud puts this gate between clients and moto: a form POST is checked as S3 checks it
(signature, expiry, every condition, every field covered) and then stored through moto; every
other request is passed through unchanged, except a SigV4 presigned URL (``X-Amz-Date`` +
``X-Amz-Expires`` in its query) that has expired or asks for more than 7 days, which moto would also
serve: S3 refuses it (``AccessDenied`` "Request has expired", ``AuthorizationQueryParametersError``).
Errors are S3's own XML codes and statuses.

Signature versions: S3 refuses SigV2 (``AWSAccessKeyId``/``Signature``) for every bucket created since
June 2020 and in every region opened since 2014, with ``400 InvalidRequest``. The gate does the same for
every bucket except those named ``sigv2_buckets`` (a legacy bucket, as some old accounts still have):
form POSTs, presigned query strings and ``Authorization: AWS ...`` headers alike. The local cloud names
none, so nothing signed with SigV2 reaches its bucket, as on AWS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"})
UNSIGNED_FIELDS = frozenset({"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"})
CHUNK = 1 << 20


SIGV2_REFUSED = (
    400,
    "InvalidRequest",
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
)


class PolicyRejected(Exception):
    """A form POST that S3 would refuse; carries S3's status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def s3_error(status: int, code: str, message: str) -> web.Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return web.Response(status=status, body=body.encode(), content_type="application/xml")


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def is_sigv2_signed(request: web.Request) -> bool:
    """A presigned SigV2 URL (``AWSAccessKeyId`` + ``Signature``) or an ``Authorization: AWS key:sig`` header."""
    if "AWSAccessKeyId" in request.query and "Signature" in request.query:
        return True
    return request.headers.get("Authorization", "").startswith("AWS ")


@dataclass
class Upload:
    fields: dict[str, str]
    filename: str
    size: int
    spool: Any


class PolicyChecker:
    """Checks one form POST against its policy the way S3 does (SigV2 only for ``sigv2_buckets``)."""

    def __init__(self, credentials: dict[str, str], sigv2_buckets: frozenset[str] = frozenset()) -> None:
        self.credentials = credentials  # access key id -> secret
        self.sigv2_buckets = sigv2_buckets

    def check(self, bucket: str, upload: Upload, now: datetime) -> None:
        fields = {k.lower(): v for k, v in upload.fields.items()}
        policy_b64 = fields.get("policy")
        if not policy_b64:
            raise PolicyRejected(400, "InvalidArgument", "Bucket POST must contain a field named 'policy'")
        if "awsaccesskeyid" in fields and bucket not in self.sigv2_buckets:
            raise PolicyRejected(*SIGV2_REFUSED)
        self._check_signature(policy_b64, fields)
        try:
            policy = json.loads(base64.b64decode(policy_b64, validate=True))
        except (binascii.Error, ValueError):
            raise PolicyRejected(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from None
        expiration = datetime.fromisoformat(str(policy.get("expiration", "")).replace("Z", "+00:00"))
        if expiration <= now:
            raise PolicyRejected(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        values = {**fields, "bucket": bucket}
        covered = self._check_conditions(policy.get("conditions", []), values, upload.size)
        for name in fields:
            if name not in covered and name not in UNSIGNED_FIELDS and not name.startswith("x-ignore-"):
                raise PolicyRejected(403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {name}")

    def _check_signature(self, policy_b64: str, fields: dict[str, str]) -> None:
        if "awsaccesskeyid" in fields:
            self._check_sigv2(policy_b64, fields)
        else:
            self._check_sigv4(policy_b64, fields)

    def _secret(self, access_key: str) -> str:
        secret = self.credentials.get(access_key)
        if secret is None:
            raise PolicyRejected(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist.")
        return secret

    @staticmethod
    def _signature_mismatch() -> PolicyRejected:
        return PolicyRejected(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )

    def _check_sigv2(self, policy_b64: str, fields: dict[str, str]) -> None:
        secret = self._secret(fields["awsaccesskeyid"])
        digest = hmac.new(secret.encode(), policy_b64.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), fields.get("signature", "")):
            raise self._signature_mismatch()

    def _check_sigv4(self, policy_b64: str, fields: dict[str, str]) -> None:
        credential = fields.get("x-amz-credential", "")
        parts = credential.split("/")
        if len(parts) != 5 or fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
            raise PolicyRejected(400, "InvalidArgument", "POST requires a SigV4 credential and algorithm")
        access_key, date, region, service, _ = parts
        secret = self.credentials.get(access_key)
        if secret is None:
            raise PolicyRejected(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist.")
        expected = hmac.new(signing_key(secret, date, region, service), policy_b64.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), fields.get("x-amz-signature", "")):
            raise PolicyRejected(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )

    def _check_conditions(self, conditions: list[Any], values: dict[str, str], size: int) -> set[str]:
        covered: set[str] = {"bucket"}
        for condition in conditions:
            if isinstance(condition, dict):
                for name, expected in condition.items():
                    covered.add(name.lower())
                    self._require(values.get(name.lower()) == str(expected), name, "eq", expected)
            elif isinstance(condition, list) and condition and condition[0] == "content-length-range":
                low, high = int(condition[1]), int(condition[2])
                if size > high:
                    raise PolicyRejected(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
                if size < low:
                    raise PolicyRejected(
                        400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
                    )
            elif isinstance(condition, list) and len(condition) == 3:
                op, name, expected = condition
                field = str(name).lstrip("$").lower()
                covered.add(field)
                actual = values.get(field, "")
                ok = (
                    actual == expected
                    if op == "eq"
                    else actual.startswith(str(expected))
                    if op == "starts-with"
                    else False
                )
                self._require(ok, field, op, expected)
            else:
                raise PolicyRejected(400, "InvalidPolicyDocument", f"Invalid Policy: unknown condition {condition!r}")
        return covered

    @staticmethod
    def _require(ok: bool, name: str, op: str, expected: Any) -> None:
        if not ok:
            raise PolicyRejected(
                403,
                "AccessDenied",
                f'Invalid according to Policy: Policy Condition failed: ["{op}", "${name}", "{expected}"]',
            )


PRESIGN_MAX_EXPIRES_S = 604_800
"""A SigV4 presigned URL is valid for at most 7 days."""


def presigned_url_refusal(query: Any, now: datetime) -> PolicyRejected | None:
    """What S3 answers a SigV4 presigned URL that has expired (or asks for > 7 days); None if valid."""
    if "X-Amz-Expires" not in query or "X-Amz-Date" not in query:
        return None
    try:
        expires_s = int(query["X-Amz-Expires"])
        signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return PolicyRejected(400, "AuthorizationQueryParametersError", "X-Amz-Date or X-Amz-Expires is malformed.")
    if not 0 < expires_s <= PRESIGN_MAX_EXPIRES_S:
        return PolicyRejected(
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds) that is, the given X-Amz-Expires must be less "
            f"than {PRESIGN_MAX_EXPIRES_S} seconds",
        )
    if (now - signed_at).total_seconds() > expires_s:
        return PolicyRejected(403, "AccessDenied", "Request has expired")
    return None


class S3Gate:
    """aiohttp server on 127.0.0.1: policy-checked form POSTs, everything else proxied to moto."""

    def __init__(
        self,
        upstream: str,
        credentials: dict[str, str],
        max_form_bytes: int = 5 * 1024**3,
        sigv2_buckets: frozenset[str] = frozenset(),
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.checker = PolicyChecker(credentials, sigv2_buckets)
        self.max_form_bytes = max_form_bytes
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=self.max_form_bytes)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        self.url = f"http://{host}:{bound[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["tail"]
        is_form_post = (
            request.method == "POST"
            and path
            and "/" not in path.strip("/")
            and request.content_type == "multipart/form-data"
            and not request.query_string
        )
        if is_form_post:
            return await self._form_post(request, path.strip("/"))
        bucket = path.strip("/").split("/", 1)[0]
        if is_sigv2_signed(request) and bucket not in self.checker.sigv2_buckets:
            return s3_error(*SIGV2_REFUSED)
        refused = presigned_url_refusal(request.query, datetime.now(UTC))
        if refused is not None:
            return s3_error(refused.status, refused.code, refused.message)
        return await self._proxy(request)

    async def _form_post(self, request: web.Request, bucket: str) -> web.StreamResponse:
        upload = await self._read_form(request)
        try:
            self.checker.check(bucket, upload, datetime.now(UTC))
            return await self._store(request, bucket, upload)
        except PolicyRejected as rejected:
            return s3_error(rejected.status, rejected.code, rejected.message)
        finally:
            upload.spool.close()

    async def _read_form(self, request: web.Request) -> Upload:
        reader = await request.multipart()
        fields: dict[str, str] = {}
        # Owned by the returned Upload and closed by _form_post once the POST is answered.
        spool = tempfile.SpooledTemporaryFile(max_size=16 * CHUNK)  # noqa: SIM115
        filename, size = "", 0
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            if part.name == "file":
                filename = part.filename or ""
                while chunk := await part.read_chunk(CHUNK):
                    size += len(chunk)
                    spool.write(chunk)
                break  # S3 ignores fields after the file
            fields[part.name or ""] = (await part.read()).decode("utf-8")
        spool.seek(0)
        return Upload(fields, filename, size, spool)

    async def _store(self, request: web.Request, bucket: str, upload: Upload) -> web.StreamResponse:
        form = aiohttp.FormData()
        for name, value in upload.fields.items():
            form.add_field(name, value)
        form.add_field("file", upload.spool, filename=upload.filename or "file")
        assert self._session is not None
        async with self._session.post(f"{self.upstream}/{bucket}", data=form, headers=self._cors_of(request)) as up:
            body = await up.read()
            return web.Response(status=up.status, body=body, headers=self._reply_headers(up.headers))

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        url = f"{self.upstream}{request.rel_url}"
        data = request.content if request.can_read_body else None
        async with self._session.request(request.method, url, headers=headers, data=data, allow_redirects=False) as up:
            response = web.StreamResponse(status=up.status, headers=self._reply_headers(up.headers))
            if up.headers.get("Content-Length") is not None:
                response.content_length = int(up.headers["Content-Length"])
            await response.prepare(request)
            async for chunk in up.content.iter_chunked(CHUNK):
                await response.write(chunk)
            await response.write_eof()
            return response

    @staticmethod
    def _cors_of(request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        return {"Origin": origin} if origin else {}

    @staticmethod
    def _reply_headers(headers: Any) -> dict[str, str]:
        return {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
