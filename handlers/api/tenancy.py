"""Who is calling: the caller's tenant and scopes, from the event API Gateway delivers.

A **tenant** owns recordings, results, jobs and items; no caller ever reaches another tenant's.

- JWT stacks (``FHR_TENANT_CLAIM`` set): API Gateway's JWT authorizer has verified the token and hands
  its claims to the function as ``requestContext.authorizer.jwt.claims`` (every value a string); the
  tenant is the claim the stack names (``fhr:auth.tenantClaim``, default ``sub``). A verified token
  without that claim is refused (403 ``missing_tenant``): no caller is ever "nobody" or "everybody".
- Open stacks (``FHR_OPEN_TENANT`` set; no authorizer): every caller is that one tenant, and no scope
  is checked (there is no token to hold one).

Tenant ids: a claim value is used verbatim when it is 1-64 letters, digits, ``_`` or ``-`` starting
with a letter or digit (a Cognito ``sub``, a UUID, an Okta id); any other value (``auth0|5fe4...``, an
e-mail address, a 300-character string) becomes ``h.`` + the first 32 hex digits of its SHA-256. The
``.`` never occurs in a verbatim id, so a hashed id cannot collide with a verbatim one, and both are
safe as an S3 prefix segment and a DynamoDB key. The mapping is stable: the same claim value always
gives the same tenant, in every function and in the local cloud (:func:`tenant_id`).

Storage layout: a tenant's objects live under ``tenants/<tenant>/`` (browser uploads under
``tenants/<tenant>/uploads/``). A ``filename`` outside the caller's prefix is refused before any S3 call
with the same 403 ``forbidden`` whether or not the object exists, so the answer says nothing about
another tenant's objects.

Logs: :func:`bind` puts the tenant on every structured log line of the invocation, and
:func:`redact` replaces object keys (``s3://bucket/key``, ``tenants/<t>/...``) in log text with a short
stable hash (:func:`key_ref`), so on-call engineers can follow a tenant and an object across lines
without a file name (which may hold a patient's name) ever reaching the logs.
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.api.http import ApiError, Forbidden, InternalError

# The same names as fhrapp.definition.TENANT_CLAIM_ENV / OPEN_TENANT_ENV (the bundle cannot import fhrapp;
# tests/handlers/api/test_tenancy.py checks they agree).
TENANT_CLAIM_ENV = "FHR_TENANT_CLAIM"
OPEN_TENANT_ENV = "FHR_OPEN_TENANT"
TENANTS_PREFIX = "tenants/"
UPLOADS = "uploads/"

_VERBATIM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
HASHED_PREFIX = "h."
HASH_HEX_DIGITS = 32  # 128 bits: no two claim values of this world share a tenant

_tenant: contextvars.ContextVar[str | None] = contextvars.ContextVar("fhr_tenant", default=None)


class Unauthenticated(ApiError):
    """A JWT stack received an event without verified claims (not through its authorizer) (401)."""

    status = 401
    code = "unauthenticated"


def tenant_id(claim_value: str) -> str:
    """The tenant id of a claim value: itself when already safe, else a stable hash (module docstring)."""
    if _VERBATIM.fullmatch(claim_value):
        return claim_value
    digest = hashlib.sha256(claim_value.encode("utf-8", "surrogatepass")).hexdigest()
    return HASHED_PREFIX + digest[:HASH_HEX_DIGITS]


def tenant_prefix(tenant: str) -> str:
    """``tenants/<tenant>/``: where every object of the tenant lives."""
    return f"{TENANTS_PREFIX}{tenant}/"


@dataclass(frozen=True)
class Caller:
    """The verified caller of one request: its tenant and, on a JWT stack, its token's scopes.

    ``scopes`` is ``None`` on an open stack, where every scope counts as held (there is no token).
    """

    tenant: str
    scopes: frozenset[str] | None = None

    @property
    def prefix(self) -> str:
        return tenant_prefix(self.tenant)

    @property
    def uploads_prefix(self) -> str:
        return self.prefix + UPLOADS

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def require_scope(self, scope: str, action: str) -> None:
        """403 ``insufficient_scope`` unless the token holds ``scope`` (the route's gateway check lets
        through a token holding ANY of the route's scopes, so finer checks happen here)."""
        if not self.has_scope(scope):
            raise Forbidden(f"{action} needs the scope {scope}; the token does not hold it", code="insufficient_scope")

    def owns(self, key: str) -> bool:
        """Is ``key`` one of the caller's objects: under its prefix, without ``.``/``..`` or empty segments?

        S3 treats ``..`` literally, but a client, proxy or console that normalises paths would not:
        such keys are refused rather than trusted to stay literal everywhere.
        """
        if not key.startswith(self.prefix):
            return False
        return all(segment not in ("", ".", "..") for segment in key[len(self.prefix) :].split("/"))

    def check_owns(self, key: str) -> None:
        """The caller's object, else 403 ``forbidden``; the same answer whether the object exists or not."""
        if not self.owns(key):
            raise Forbidden(
                f"filename must name an object under your prefix {self.prefix} (GET /recordings lists them)",
                code="forbidden",
            )


def caller_of(authorizer: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> Caller:
    """The caller from ``requestContext.authorizer`` and the function's tenancy environment."""
    env = os.environ if environ is None else environ
    claim = env.get(TENANT_CLAIM_ENV)
    if not claim:
        open_tenant = env.get(OPEN_TENANT_ENV)
        if not open_tenant:
            raise InternalError(f"the function is configured with neither {TENANT_CLAIM_ENV} nor {OPEN_TENANT_ENV}")
        return Caller(open_tenant)
    jwt = authorizer.get("jwt") if isinstance(authorizer, Mapping) else None
    if not isinstance(jwt, Mapping) or not isinstance(jwt.get("claims"), Mapping):
        raise Unauthenticated("this request did not come through the API's JWT authorizer")
    claims = jwt["claims"]
    value = claims.get(claim)
    if not isinstance(value, str) or not value:
        raise Forbidden(f"the token has no {claim!r} claim to tell its tenant", code="missing_tenant")
    return Caller(tenant_id(value), frozenset(_scopes(jwt, claims)))


def _scopes(jwt: Mapping[str, Any], claims: Mapping[str, Any]) -> list[str]:
    """``jwt.scopes`` when API Gateway filled it (routes with scopes), else the ``scope``/``scp`` claim.

    Claims arrive as strings: ``scope`` space-separated, an ``scp`` array in API Gateway's ``[a b]`` form.
    """
    scopes = jwt.get("scopes")
    if isinstance(scopes, list):
        return [s for s in scopes if isinstance(s, str)]
    text = claims.get("scope", claims.get("scp", ""))
    if not isinstance(text, str):
        return []
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return text.split()


# ---- logs -----------------------------------------------------------------------------------------


def bind(tenant: str | None) -> None:
    """The tenant every log line of the current invocation (or worker message) carries."""
    _tenant.set(tenant)


def bound_tenant() -> str | None:
    return _tenant.get()


def key_ref(key: str) -> str:
    """A short stable reference to an object key for logs: ``k-`` + 12 hex digits of its SHA-256."""
    return "k-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


_S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.\-]*)/([^\s'\"<>]+)")
_TENANT_KEY = re.compile(r"\btenants/([^/\s'\"<>]+)/([^\s'\"<>]+)")


def redact(text: str) -> str:
    """``text`` with object keys replaced by :func:`key_ref` (``s3://b/<ref>``, ``tenants/<t>/<ref>``)."""
    text = _S3_URI.sub(lambda m: f"s3://{m.group(1)}/{key_ref(m.group(2))}", text)
    return _TENANT_KEY.sub(lambda m: f"tenants/{m.group(1)}/{key_ref(m.group(2))}", text)


def log_line_filter(line: dict[str, Any]) -> None:
    """For the runtime's JSON log lines: add the bound tenant; redact keys from every text field (the
    message, a traceback, an error's ``stackTrace`` list, any ``extra=`` value)."""
    for name, value in line.items():
        line[name] = _redacted(value)
    tenant = _tenant.get()
    if tenant is not None:
        line["tenant"] = tenant


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def install_log_filter() -> None:
    """Register :func:`log_line_filter` with the runtime's structured logging (idempotent)."""
    from handlers.runtime.logging import add_line_filter

    add_line_filter(log_line_filter)


install_log_filter()
