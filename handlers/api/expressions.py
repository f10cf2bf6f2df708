"""Checks on caller-supplied DynamoDB expressions before they reach the service.

DynamoDB would reject most bad expressions itself, but with messages about its own grammar; checking
here gives the caller a precise code (``invalid_update_expression``, ``unknown_placeholder``,
``unused_placeholder``) and guarantees an update only ever uses the four documented clauses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from handlers.api.contract import codes
from handlers.api.http import BadRequest

CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")
MAX_EXPRESSION_CHARS = 4096

EXPRESSION_ERRORS = codes(
    400,
    invalid_update_expression="UpdateExpression is not SET/REMOVE/ADD/DELETE clauses, each once and non-empty",
    invalid_expression=f"an expression or placeholder map is not a non-empty string / object (at most "
    f"{MAX_EXPRESSION_CHARS} characters)",
    invalid_placeholder="a placeholder is not #name / :value, or names an empty attribute, or is the reserved #__key",
    unknown_placeholder="an expression uses a placeholder that is not defined",
    unused_placeholder="a placeholder is defined but never used",
)

_CLAUSE_RE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)
_NAME_RE = re.compile(r"#[A-Za-z0-9_]+")
_VALUE_RE = re.compile(r":[A-Za-z0-9_]+")


def check_update_expression(expression: Any) -> None:
    """One or more ``SET``/``REMOVE``/``ADD``/``DELETE`` clauses, each once and each non-empty."""
    text = _expression_text(expression, "UpdateExpression")
    matches = list(_CLAUSE_RE.finditer(text))
    if not matches or text[: matches[0].start()].strip():
        raise BadRequest(
            "UpdateExpression must start with one of SET, REMOVE, ADD, DELETE", code="invalid_update_expression"
        )
    seen: set[str] = set()
    for index, match in enumerate(matches):
        clause = match.group(1).upper()
        if clause in seen:
            raise BadRequest(f"UpdateExpression repeats the {clause} clause", code="invalid_update_expression")
        seen.add(clause)
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        if not text[match.end() : end].strip(" ,"):
            raise BadRequest(f"the {clause} clause of UpdateExpression is empty", code="invalid_update_expression")


def check_condition_expression(expression: Any) -> None:
    _expression_text(expression, "ConditionExpression")


def _expression_text(expression: Any, field: str) -> str:
    if not isinstance(expression, str):
        raise BadRequest(f"{field} must be a string", code="invalid_expression")
    if not expression.strip():
        raise BadRequest(f"{field} is empty", code="invalid_expression")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise BadRequest(f"{field} exceeds {MAX_EXPRESSION_CHARS} characters", code="invalid_expression")
    return expression


def check_placeholders(
    expressions: list[str], names: Mapping[str, Any] | None, values: Mapping[str, Any] | None
) -> None:
    """Every ``#name``/``:value`` used must be defined, and every one defined must be used."""
    _check_placeholder_map(names, "ExpressionAttributeNames", "#", value_type=str)
    _check_placeholder_map(values, "ExpressionAttributeValues", ":", value_type=None)
    text = " ".join(expressions)
    used_names = set(_NAME_RE.findall(text))
    used_values = set(_VALUE_RE.findall(text))
    defined_names = set(names or {})
    defined_values = set(values or {})
    for kind, used, defined in (("name", used_names, defined_names), ("value", used_values, defined_values)):
        unknown = sorted(used - defined)
        if unknown:
            raise BadRequest(f"undefined {kind} placeholder(s): {', '.join(unknown)}", code="unknown_placeholder")
        unused = sorted(defined - used)
        if unused:
            raise BadRequest(f"{kind} placeholder(s) never used: {', '.join(unused)}", code="unused_placeholder")


def _check_placeholder_map(mapping: Any, field: str, prefix: str, *, value_type: type | None) -> None:
    if mapping is None:
        return
    if not isinstance(mapping, dict) or not mapping:
        raise BadRequest(f"{field} must be a non-empty object", code="invalid_expression")
    for key, value in mapping.items():
        if not re.fullmatch(re.escape(prefix) + r"[A-Za-z0-9_]+", key):
            raise BadRequest(f"{field} key {key!r} must look like {prefix}name", code="invalid_placeholder")
        if value_type is not None and (not isinstance(value, value_type) or not value):
            raise BadRequest(f"{field}[{key!r}] must be a non-empty string", code="invalid_placeholder")
