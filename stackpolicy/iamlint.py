"""parliament (duo-labs' IAM linter, which knows every AWS action, resource format and condition key)
over every policy document of a stack graph, with its community auditors (credentials exposure,
privilege escalation, permissions management, sensitive access...).

The bar is zero findings. Every finding parliament reports is returned, so a misspelt action, an
action on the wrong resource type, an unknown condition key, an invalid statement id or a wildcard
resource fails the test suite, except the findings :data:`SUPPRESSIONS` names: each entry is one
issue on one kind of policy with one exact detail, and says why the finding is wrong there. (Trust
policies, which parliament cannot read as IAM stores them, are handed to it with their implied
resource written out: see :mod:`stackpolicy.documents`.)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.testing import Graph
from stackpolicy.documents import PolicyDocument, PolicyKind, policy_documents


@dataclass(frozen=True)
class Finding:
    source: str
    issue: str
    severity: str
    detail: str

    def __str__(self) -> str:
        return f"{self.source}: {self.severity} {self.issue} {self.detail}"


@dataclass(frozen=True)
class Suppression:
    kind: PolicyKind
    issue: str
    detail: str
    reason: str


SUPPRESSIONS = (
    Suppression(
        kind="trust",
        issue="CREDENTIALS_EXPOSURE",
        detail='{"actions": ["sts:assumerole"]}',
        reason=(
            "A trust policy exists to let its principal (here the Lambda service) take the role's credentials "
            "with sts:AssumeRole. The community auditor reads every statement as an identity policy, where "
            "allowing sts:AssumeRole would hand credentials to whoever holds that policy; in a trust policy it "
            "is the policy's whole purpose. Any other action, and this one in any other kind of policy, is reported."
        ),
    ),
)


def lint_document(policy: PolicyDocument) -> list[Finding]:
    """parliament's findings on one document, minus the :data:`SUPPRESSIONS` for its kind."""
    parliament = _parliament()
    analysed = parliament.analyze_policy_string(json.dumps(policy.document), include_community_auditors=True)
    findings = []
    for raw in analysed.findings:
        parliament.enhance_finding(raw)
        finding = Finding(policy.source, raw.issue, raw.severity, _detail(raw.detail, raw.location))
        if not any(
            s.kind == policy.kind and (s.issue, s.detail) == (finding.issue, finding.detail) for s in SUPPRESSIONS
        ):
            findings.append(finding)
    return findings


def lint_graph(graph: Graph) -> tuple[list[PolicyDocument], list[Finding]]:
    """Every policy document of ``graph`` and parliament's findings on them."""
    documents = policy_documents(graph)
    return documents, lint_all(documents)


def lint_all(documents: Iterable[PolicyDocument]) -> list[Finding]:
    return [finding for document in documents for finding in lint_document(document)]


@functools.cache
def _parliament() -> Any:
    """parliament with its community auditors' settings loaded, as its CLI does for --include-community-auditors.

    Imported on first use: it loads AWS's whole IAM definition (~0.2 s).
    """
    import parliament

    parliament.override_config(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml")
    return parliament


def _detail(detail: Any, location: Any) -> str:
    """The finding's detail, or for auditors that put it there, its location (minus the file path)."""
    if not detail and isinstance(location, dict):
        detail = {key: value for key, value in location.items() if key != "filepath"}
    return detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True, default=str)
