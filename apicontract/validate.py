"""One HTTP response checked against the OpenAPI document: its status is declared, its body fits the schema.

:class:`ResponseChecker` finds the operation a request reached the way API Gateway routes (literal path
segments before parameters; a path or method the document does not have is the gateway's
``404 {"message": "Not Found"}``), then checks that the status is one the operation declares, that the
content type is the declared one, and that a JSON body validates against the declared schema (JSON Schema
2020-12, ``$ref`` resolved within the document). A CORS preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) is the gateway's own ``204`` and has no operation.

The contract suite runs it on every response it receives (``tests/contract/conftest.py``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

DOCUMENT_URI = "urn:fhr:openapi"
NOT_FOUND = {"message": "Not Found"}


class ContractViolation(AssertionError):
    """A response the document does not allow."""


@dataclass(frozen=True)
class Reached:
    """The operation a request reached, and the path parameters it matched."""

    path: str  # the document's path template
    method: str
    operation: Mapping[str, Any]


@dataclass
class ResponseChecker:
    """Checks responses against ``document``; counts what it checked (``seen``: operationId, status)."""

    document: Mapping[str, Any]
    seen: Counter[tuple[str, int]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        resource = Resource.from_contents(dict(self.document), default_specification=DRAFT202012)
        self._registry = Registry().with_resource(DOCUMENT_URI, resource)
        self._validator_class = Draft202012Validator
        self._templates = sorted(
            ((path, [s for s in path.split("/") if s]) for path in self.document["paths"]),
            key=lambda item: -sum(1 for s in item[1] if not s.startswith("{")),
        )

    def find(self, method: str, url: str) -> Reached | None:
        """The operation ``method url`` reaches, else ``None`` (the gateway answers 404 itself)."""
        segments = [unquote(s) for s in urlsplit(url).path.split("/") if s]
        for path, template in self._templates:
            if len(template) != len(segments):
                continue
            if all(t.startswith("{") or t == s for t, s in zip(template, segments, strict=True)):
                operation = self.document["paths"][path].get(method.lower())
                if operation is not None:
                    return Reached(path, method.lower(), operation)
        return None

    def check(
        self, method: str, url: str, status: int, headers: Mapping[str, str], body: bytes, *, preflight: bool = False
    ) -> None:
        """Raise :class:`ContractViolation` unless the document allows this response to this request."""
        if preflight and method.upper() == "OPTIONS":
            if status != 204:
                raise ContractViolation(f"CORS preflight {url} answered {status}, not the gateway's 204")
            return
        reached = self.find(method, url)
        if reached is None:
            parsed = _json(body)
            if status != 404 or parsed != NOT_FOUND:
                raise ContractViolation(
                    f"{method} {url} is no operation of the document: the gateway answers 404 {NOT_FOUND}, "
                    f"got {status} {body[:200]!r}"
                )
            self.seen[("(no route)", 404)] += 1
            return
        where = f"{method.upper()} {reached.path} -> {status}"
        responses = reached.operation["responses"]
        response = responses.get(str(status))
        if response is None:
            raise ContractViolation(f"{where}: status not declared (declared: {', '.join(responses)}); {body[:300]!r}")
        self.seen[(reached.operation["operationId"], status)] += 1
        content = response.get("content")
        if not content:
            return
        media = (headers.get("content-type") or headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media not in content:
            raise ContractViolation(f"{where}: content type {media!r}, declared {sorted(content)}")
        if media != "application/json":
            return
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise ContractViolation(f"{where}: the body is not JSON ({exc}): {body[:200]!r}") from None
        pointer = "/".join(
            part.replace("~", "~0").replace("/", "~1")
            for part in ("paths", reached.path, reached.method, "responses", str(status), "content", media, "schema")
        )
        validator = self._validator_class({"$ref": f"{DOCUMENT_URI}#/{pointer}"}, registry=self._registry)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            shown = "; ".join(
                f"at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors[:5]
            )
            raise ContractViolation(f"{where}: the body does not fit the declared schema: {shown}")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
