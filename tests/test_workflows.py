"""The delivery pipeline as code: the GitHub workflows pass actionlint (shellcheck on every ``run:``
script), a broken workflow is caught, and the delivery rules hold: every remote action pinned to a
commit, AWS reached through OIDC roles only, the README's test command and a preview per stack on pull
requests, dev on main and prod on a release tag behind its environment, each followed by the contract
suite. The bootstrap IAM documents the README applies pass parliament."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackpolicy.documents import PolicyDocument, with_implied_resource
from stackpolicy.iamlint import lint_all

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / ".github"
WORKFLOWS = GITHUB / "workflows"
STAGES = ("dev", "prod")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\b")


def tool(name: str) -> str:
    """A linter the dev extra installs into the venv beside this interpreter (actionlint, shellcheck)."""
    found = Path(sys.executable).parent / name
    path = str(found) if found.exists() else shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: `make venv` installs it (pyproject's [dev] extra)")
    return path


def actionlint(repo: Path) -> list[dict[str, Any]]:
    """actionlint's findings on the repository at ``repo`` (it finds .github/workflows itself)."""
    command = [
        tool("actionlint"),
        "-no-color",
        "-format",
        "{{json .}}",
        "-shellcheck",
        tool("shellcheck"),
        "-pyflakes=",
    ]
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout or "[]")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if True in document:  # YAML 1.1 reads the key `on` as true
        document["on"] = document.pop(True)
    return document


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / name)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0] == action


def yaml_files() -> list[Path]:
    return sorted([*GITHUB.rglob("*.yml"), *GITHUB.rglob("*.yaml")])


def test_workflows_pass_actionlint() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == [
        "delivery.yml",
        "deploy.yml",
        "pull-request.yml",
        "test.yml",
    ]
    findings = actionlint(ROOT)
    assert findings == [], "\n".join(f"{f['filepath']}:{f['line']}: {f['message']} [{f['kind']}]" for f in findings)


def test_composite_action_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """actionlint checks workflow scripts; the setup action's own scripts are checked here the same way."""
    action = load(GITHUB / "actions" / "setup" / "action.yml")
    scripts = [step["run"] for step in action["runs"]["steps"] if "run" in step]
    assert scripts
    for index, script in enumerate(scripts):
        path = tmp_path / f"step{index}.sh"
        path.write_text(script)
        result = subprocess.run([tool("shellcheck"), "-s", "bash", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def break_file(name: str, old: str, new: str) -> Callable[[Path], None]:
    def breakage(github: Path) -> None:
        path = next(github.rglob(name))
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new, 1))

    return breakage


BROKEN_WORKFLOWS = {
    "undefined matrix property": (
        break_file("pull-request.yml", "stack-name: ${{ matrix.stack }}", "stack-name: ${{ matrix.stak }}"),
        "expression",
    ),
    "input the local action does not have": (break_file("deploy.yml", 'set-a: "true"', 'set-b: "true"'), "action"),
    "unquoted output file in a script": (
        break_file("deploy.yml", '>> "$GITHUB_OUTPUT"', ">> $GITHUB_OUTPUT"),
        "shellcheck",
    ),
    "job that needs a missing job": (break_file("delivery.yml", "needs: test", "needs: tests"), "job-needs"),
    "variable no one configured": (break_file("deploy.yml", "vars.AWS_DEPLOY_ROLE_ARN", "vars.AWS_ROLE"), "expression"),
    "unknown webhook event": (break_file("pull-request.yml", "pull_request:", "pull-request:"), "events"),
    "permission that does not exist": (break_file("deploy.yml", "id-token: write", "id_token: write"), "permissions"),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN_WORKFLOWS))
def test_actionlint_catches_a_broken_workflow(tmp_path: Path, breakage: str) -> None:
    change, kind = BROKEN_WORKFLOWS[breakage]
    shutil.copytree(GITHUB, tmp_path / ".github")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # actionlint looks for the repository root
    change(tmp_path / ".github")
    findings = actionlint(tmp_path)
    assert kind in {f["kind"] for f in findings}, findings


def test_every_remote_action_is_pinned_to_a_commit_with_its_version() -> None:
    seen = 0
    for path in yaml_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
            if not match or match.group(1).startswith(("./", "docker://")):
                continue
            seen += 1
            assert PINNED.match(match.group(1)), f"{path.name}:{number}: {match.group(1)} is not pinned to a commit"
            assert VERSION_COMMENT.search(match.group(2)), f"{path.name}:{number}: say which version the commit is"
    assert seen >= 5


def test_aws_is_reached_through_oidc_roles_only() -> None:
    text = "\n".join(path.read_text() for path in yaml_files())
    for stored in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert stored not in text
    configured = 0
    for path in WORKFLOWS.glob("*.yml"):
        document = load(path)
        assert document["permissions"] == {"contents": "read"}, f"{path.name}: least privilege by default"
        for name, job in document["jobs"].items():
            for step in steps(job):
                if uses(step, "aws-actions/configure-aws-credentials"):
                    configured += 1
                    assert step["with"]["role-to-assume"].startswith("${{ vars"), (path.name, name)
                    assert job["permissions"]["id-token"] == "write", (path.name, name)
    assert configured == 2  # the preview and the deploy


def test_pull_requests_run_the_readme_test_command_and_preview_every_stack() -> None:
    readme = (ROOT / "README.md").read_text()
    test_command = re.search(r"^make test\b", readme, re.MULTILINE)
    assert test_command, "the README starts with its test command"
    [test_job] = workflow("test.yml")["jobs"].values()
    assert [s["run"] for s in steps(test_job) if "run" in s] == ["make test"]
    pull_request = workflow("pull-request.yml")
    assert set(pull_request["on"]) == {"pull_request"}
    assert pull_request["jobs"]["test"]["uses"] == "./.github/workflows/test.yml"
    preview = pull_request["jobs"]["preview"]
    assert [entry["stack"] for entry in preview["strategy"]["matrix"]["include"]] == list(STAGES)
    assert preview["permissions"]["pull-requests"] == "write"
    [pulumi] = [s for s in steps(preview) if uses(s, "pulumi/actions")]
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"


def test_main_deploys_dev_and_a_release_tag_deploys_prod_behind_its_environment() -> None:
    delivery = workflow("delivery.yml")
    assert delivery["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    jobs = delivery["jobs"]
    assert jobs["dev"]["with"] == {"stack": "dev"} and "refs/heads/main" in jobs["dev"]["if"]
    assert jobs["prod"]["with"] == {"stack": "prod"} and "refs/tags/v" in jobs["prod"]["if"]
    for stage in STAGES:
        assert jobs[stage]["uses"] == "./.github/workflows/deploy.yml" and jobs[stage]["needs"] == "test"
    [up] = workflow("deploy.yml")["jobs"].values()
    assert up["environment"]["name"] == "${{ inputs.stack }}"  # prod's required reviewers gate its job
    assert up["concurrency"]["cancel-in-progress"] is False
    names = [s.get("uses", s.get("name", "")).split("@")[0] for s in steps(up)]
    assert (
        names.index("pulumi/actions")
        < names.index("Stack outputs")
        < names.index("Contract suite against the deployed stack")
    )
    [pulumi] = [s for s in steps(up) if uses(s, "pulumi/actions")]
    assert pulumi["with"]["command"] == "up"
    [contract] = [s for s in steps(up) if s.get("name") == "Contract suite against the deployed stack"]
    assert contract["env"] == {"FHR_STACK_OUTPUTS": "outputs.json"} and "tests/contract" in contract["run"]


def test_the_pulumi_cli_matches_the_sdk() -> None:
    pinned = re.search(r'"pulumi==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned and (ROOT / ".pulumi.version").read_text().strip() == pinned.group(1)


BOOTSTRAP_VALUES = {
    "AWS_ACCOUNT_ID": "123456789012",
    "OIDC_SUBJECT": "repo:hospital/fhr-service:environment:prod",
    "STATE_BUCKET": "fhr-pulumi-state-123456789012",
    "SECRETS_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/0b0e7c1e-8c4b-4f7e-9d6c-2f1a7c3e5d11",
}


def bootstrap_document(name: str) -> dict[str, Any]:
    """A bootstrap template rendered as `envsubst` renders it in the README's commands."""
    text = (ROOT / "bootstrap" / name).read_text()
    for key, value in BOOTSTRAP_VALUES.items():
        text = text.replace("${" + key + "}", value)
    assert "${" not in text, f"{name} has a placeholder the README does not set"
    return json.loads(text)


def test_bootstrap_policies_pass_parliament() -> None:
    role = type("Role", (), {"state": {"arn": "arn:aws:iam::123456789012:role/fhr-deploy-prod"}, "name": "r"})()
    documents = [
        PolicyDocument("trust", "trust", with_implied_resource(bootstrap_document("github-oidc-trust.json"), role)),  # type: ignore[arg-type]
        PolicyDocument("state access", "identity", bootstrap_document("pulumi-state-access.json")),
        PolicyDocument("state bucket", "resource", bootstrap_document("state-bucket-policy.json")),
    ]
    assert sorted(p.name for p in (ROOT / "bootstrap").glob("*.json")) == [
        "github-oidc-trust.json",
        "pulumi-state-access.json",
        "state-bucket-policy.json",
    ]
    findings = lint_all(documents)
    assert findings == [], "\n".join(map(str, findings))


def test_the_oidc_trust_names_one_exact_subject_and_audience() -> None:
    """A wildcard subject would let any branch, fork workflow or repository assume the role."""
    [statement] = bootstrap_document("github-oidc-trust.json")["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert list(statement["Condition"]) == ["StringEquals"]
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": BOOTSTRAP_VALUES["OIDC_SUBJECT"],
    }


def test_ci_runs_without_stdin_and_ends_in_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "DEBIAN_FRONTEND=noninteractive" in script and script.rstrip().endswith("make test")
