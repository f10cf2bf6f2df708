"""parliament (duo-labs' IAM linter, which knows every AWS action, resource format and condition key)
over every policy document of a stack graph, with its community auditors (credentials exposure,
privilege escalation, permissions management, sensitive access...).

The bar is zero findings. Every finding parliament reports is returned, so a misspelt action, an
action on the wrong resource type, an unknown condition key, an invalid statement id or a wildcard
resource fails the test suite, except the findings :data:`SUPPRESSIONS` names: each entry is one
issue on one kind of policy with an exactly matched detail, and says why the finding is wrong there. (Trust
policies, which parliament cannot read as IAM stores them, are handed to it with their implied
resource written out: see :mod:`stackpolicy.documents`.)
"""

from __future__ import annotations

import functools
import json
import re
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
    """One parliament issue on one kind of policy whose detail matches ``detail`` (a full-match regex)."""

    kind: PolicyKind
    issue: str
    detail: str
    reason: str

    def covers(self, kind: PolicyKind, finding: Finding) -> bool:
        matched = re.fullmatch(self.detail, finding.detail) is not None
        return matched and (kind, finding.issue) == (self.kind, self.issue)


SUPPRESSIONS = (
    Suppression(
        kind="trust",
        issue="CREDENTIALS_EXPOSURE",
        detail=r'\{"actions": \["sts:assumerole(withwebidentity)?"\]\}',
        reason=(
            "A trust policy exists to let its principal (the Lambda service; GitHub Actions' OIDC tokens for the "
            "delivery roles) take the role's credentials with sts:AssumeRole / sts:AssumeRoleWithWebIdentity. The "
            "community auditor reads every statement as an identity policy, where allowing these would hand "
            "credentials to whoever holds that policy; in a trust policy it is the policy's whole purpose. Any "
            "other action, and these in any other kind of policy, are reported."
        ),
    ),
    Suppression(
        kind="trust",
        issue="UNKNOWN_FEDERATION_SOURCE",
        detail=r"arn:aws:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com",
        reason=(
            "parliament knows SAML providers and four public identity providers as federated principals, not "
            "IAM OIDC identity providers; an OIDC provider of the account for GitHub Actions' token issuer is the "
            "principal AWS documents for OIDC from GitHub. Only that exact provider is let through."
        ),
    ),
    Suppression(
        kind="trust",
        issue="UNKNOWN_CONDITION_FOR_ACTION",
        detail=(
            r"Unknown condition token\.actions\.githubusercontent\.com:(aud|sub) "
            r"for action sts:AssumeRoleWithWebIdentity"
        ),
        reason=(
            "An OIDC provider's condition keys are named after its host (<host>:aud, <host>:sub); AWS's IAM "
            "reference lists them only as that pattern, so parliament's table of condition keys cannot hold them. "
            "They are what restricts the role to one repository and environment (tested on the bootstrap trust "
            "policy), so only GitHub's two keys, only on sts:AssumeRoleWithWebIdentity, are let through."
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
        if not any(suppression.covers(policy.kind, finding) for suppression in SUPPRESSIONS):
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
