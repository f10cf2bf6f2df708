"""The stack rules hold for both stacks, and each rule fails on a deliberately broken copy of the graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.testing import Graph, Registered
from stackpolicy.graph import (
    ALARM,
    BUCKET,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    BUCKET_SSE,
    BUCKET_VERSIONING,
    EVENT_RULE,
    EVENT_TARGET,
    FUNCTION,
    INTEGRATION,
    LOG_GROUP,
    MAPPING,
    PERMISSION,
    QUEUE,
    QUEUE_POLICY,
    ROUTE,
    TABLE,
)
from stackpolicy.rules import RULES, evaluate

from .conftest import STAGES, broken, edit_json, first

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("stage", STAGES)
def test_the_stack_satisfies_every_rule(stack_graphs: dict[str, Graph], stage: str) -> None:
    violations = evaluate(stack_graphs[stage], stage)
    assert violations == [], "\n".join(map(str, violations))


def test_the_dev_stack_would_not_pass_as_production(stack_graphs: dict[str, Graph]) -> None:
    """Dev is deliberately destroyable; the production rule is what keeps prod from being so."""
    violations = evaluate(stack_graphs["dev"], "prod", ["production_data_protected"])
    messages = {(v.resource.split()[0], v.message) for v in violations}
    assert ("Bucket", "is force-destroyed (emptied) with the stack") in messages
    assert ("Table", "has no deletion protection") in messages
    assert ("Bucket", "is not protected and retained on delete by Pulumi") in messages


# ---- breakages: each makes a copy of a stack graph violate one rule


def function_where(g: Graph, logical: str) -> Registered:
    return first(g, FUNCTION, lambda f: f.state["name"].endswith(f"-{logical}"))


def drop(typ: str, where: Callable[[Registered], bool] = lambda r: True) -> Callable[[Graph], None]:
    def breakage(g: Graph) -> None:
        g.resources.remove(first(g, typ, where))

    breakage.__name__ = f"drop_{typ.rsplit(':', 1)[-1]}"
    return breakage


def plain_text_bucket(g: Graph) -> None:
    first(g, BUCKET_SSE).inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] = "none"


def table_under_the_aws_owned_key(g: Graph) -> None:
    del first(g, TABLE).inputs["serverSideEncryption"]


def queue_without_sse(g: Graph) -> None:
    first(g, QUEUE).inputs["sqsManagedSseEnabled"] = False


def tls_condition_inverted(g: Graph) -> None:
    edit_json(
        first(g, BUCKET_POLICY),
        "policy",
        lambda d: d["Statement"][0]["Condition"]["Bool"].update({"aws:SecureTransport": "true"}),
    )


def queue_policy_names_another_queue(g: Graph) -> None:
    edit_json(
        first(g, QUEUE_POLICY),
        "policy",
        lambda d: d["Statement"][0].update(Resource=["arn:aws:sqs:eu-west-1:123456789012:other"]),
    )


def second_bucket_policy(g: Graph) -> None:
    copy = Registered(**{**vars(first(g, BUCKET_POLICY)), "name": "another-policy"})
    g.resources.append(copy)


def public_access_half_blocked(g: Graph) -> None:
    first(g, BUCKET_PUBLIC_ACCESS_BLOCK).inputs["restrictPublicBuckets"] = False


def bucket_policy_allows_everyone(g: Graph) -> None:
    bucket = first(g, BUCKET)
    allow = {
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "s3:GetObject",
        "Resource": f"{bucket.state['arn']}/*",
    }
    edit_json(first(g, BUCKET_POLICY), "policy", lambda d: d["Statement"].append(allow))


def public_read_acl(g: Graph) -> None:
    first(g, BUCKET).inputs["acl"] = "public-read"


def logs_kept_forever(g: Graph) -> None:
    del first(g, LOG_GROUP).inputs["retentionInDays"]


def retention_cloudwatch_does_not_offer(g: Graph) -> None:
    first(g, LOG_GROUP).inputs["retentionInDays"] = 13


def function_logs_to_an_undeclared_group(g: Graph) -> None:
    first(g, FUNCTION).inputs["loggingConfig"]["logGroup"] = "/aws/lambda/somewhere-else"


def throttles_alarm_watches_another_function(g: Graph) -> None:
    alarm = first(g, ALARM, lambda a: a.inputs.get("metricName") == "Throttles")
    alarm.inputs["dimensions"] = {"FunctionName": "fhr-dev-someone-else"}


def prod_alarm_tells_no_one(g: Graph) -> None:
    first(g, ALARM).inputs["alarmActions"] = []


def api_function_outlives_the_api(g: Graph) -> None:
    function_where(g, "fhr").inputs["timeout"] = 45


def integration_waits_past_30_s(g: Graph) -> None:
    first(g, INTEGRATION).inputs["timeoutMilliseconds"] = 31_000


def integration_no_route_uses(g: Graph) -> None:
    integration = first(g, INTEGRATION, lambda i: i.inputs["integrationUri"].endswith("-web:live/invocations"))
    for route in [r for r in g.of_type(ROUTE) if r.inputs["target"] == f"integrations/{integration.id}"]:
        g.resources.remove(route)


def worker_outgrows_its_queue_visibility(g: Graph) -> None:
    function_where(g, "worker").inputs["timeout"] = 301  # 6 x 301 > the jobs queue's 1,800 s


def worker_reserves_less_than_its_mapping_runs(g: Graph) -> None:
    cap = first(g, MAPPING).inputs["scalingConfig"]["maximumConcurrency"]
    function_where(g, "worker").inputs["reservedConcurrentExecutions"] = cap - 1


def function_reserves_nothing(g: Graph) -> None:
    function_where(g, "web").inputs["reservedConcurrentExecutions"] = 0


def stack_takes_the_whole_account(g: Graph) -> None:
    function_where(g, "fhr").inputs["reservedConcurrentExecutions"] = 900


def keep_warm_fans_out_past_the_reservation(g: Graph) -> None:
    function_where(g, "items").inputs["reservedConcurrentExecutions"] = 1  # prod warms 10


def permission_for_any_source(g: Graph) -> None:
    del first(g, PERMISSION).inputs["sourceArn"]


def api_may_invoke_the_worker(g: Graph) -> None:
    first(g, PERMISSION, lambda p: p.inputs["principal"] == "apigateway.amazonaws.com").inputs["function"] = (
        function_where(g, "worker").state["name"]
    )


def keep_warm_permission_for_another_rule(g: Graph) -> None:
    permission = first(g, PERMISSION, lambda p: p.inputs["principal"] == "events.amazonaws.com")
    other = first(g, EVENT_RULE, lambda r: r.state["arn"] != permission.inputs["sourceArn"])
    permission.inputs["sourceArn"] = other.state["arn"]


def permission_for_a_principal_nothing_checks(g: Graph) -> None:
    first(g, PERMISSION).inputs["principal"] = "s3.amazonaws.com"


def permission_on_an_alias_the_api_does_not_call(g: Graph) -> None:
    first(g, PERMISSION, lambda p: p.inputs["principal"] == "apigateway.amazonaws.com").inputs["qualifier"] = "canary"


def unprotected(typ: str) -> Callable[[Graph], None]:
    def breakage(g: Graph) -> None:
        first(g, typ).protect = False

    breakage.__name__ = f"unprotected_{typ.rsplit(':', 1)[-1]}"
    return breakage


def bucket_not_retained(g: Graph) -> None:
    first(g, BUCKET).retain_on_delete = False


def table_deletable(g: Graph) -> None:
    first(g, TABLE).inputs["deletionProtectionEnabled"] = False


def table_without_pitr(g: Graph) -> None:
    first(g, TABLE).inputs["pointInTimeRecovery"] = {"enabled": False}


def bucket_force_destroyed(g: Graph) -> None:
    first(g, BUCKET).inputs["forceDestroy"] = True


def versioning_suspended(g: Graph) -> None:
    first(g, BUCKET_VERSIONING).inputs["versioningConfiguration"]["status"] = "Suspended"


# (rule, stage, breakage): the rule passes on the stage's graph and fails on the broken copy.
BREAKAGES: list[tuple[str, str, Callable[[Graph], Any]]] = [
    ("encryption_at_rest", "dev", drop(BUCKET_SSE)),
    ("encryption_at_rest", "dev", plain_text_bucket),
    ("encryption_at_rest", "prod", table_under_the_aws_owned_key),
    ("encryption_at_rest", "dev", queue_without_sse),
    ("encryption_in_transit", "dev", drop(BUCKET_POLICY)),
    ("encryption_in_transit", "dev", tls_condition_inverted),
    ("encryption_in_transit", "prod", drop(QUEUE_POLICY)),
    ("encryption_in_transit", "dev", queue_policy_names_another_queue),
    ("encryption_in_transit", "dev", second_bucket_policy),
    ("no_public_bucket", "dev", drop(BUCKET_PUBLIC_ACCESS_BLOCK)),
    ("no_public_bucket", "prod", public_access_half_blocked),
    ("no_public_bucket", "dev", bucket_policy_allows_everyone),
    ("no_public_bucket", "dev", public_read_acl),
    ("log_retention", "dev", logs_kept_forever),
    ("log_retention", "prod", retention_cloudwatch_does_not_offer),
    ("log_retention", "dev", function_logs_to_an_undeclared_group),
    ("alarms_on_functions", "dev", drop(ALARM, lambda a: a.inputs.get("metricName") == "Errors")),
    ("alarms_on_functions", "dev", throttles_alarm_watches_another_function),
    ("alarms_on_functions", "prod", prod_alarm_tells_no_one),
    ("trigger_limits", "dev", api_function_outlives_the_api),
    ("trigger_limits", "dev", integration_waits_past_30_s),
    ("trigger_limits", "prod", integration_no_route_uses),
    ("trigger_limits", "dev", worker_outgrows_its_queue_visibility),
    ("trigger_limits", "prod", worker_reserves_less_than_its_mapping_runs),
    ("trigger_limits", "dev", function_reserves_nothing),
    ("trigger_limits", "prod", stack_takes_the_whole_account),
    ("trigger_limits", "prod", keep_warm_fans_out_past_the_reservation),
    ("invoke_permissions", "dev", permission_for_any_source),
    ("invoke_permissions", "dev", api_may_invoke_the_worker),
    ("invoke_permissions", "prod", keep_warm_permission_for_another_rule),
    ("invoke_permissions", "dev", permission_for_a_principal_nothing_checks),
    ("invoke_permissions", "prod", permission_on_an_alias_the_api_does_not_call),
    ("invoke_permissions", "dev", drop(EVENT_TARGET)),
    ("production_data_protected", "prod", unprotected(TABLE)),
    ("production_data_protected", "prod", unprotected(BUCKET)),
    ("production_data_protected", "prod", bucket_not_retained),
    ("production_data_protected", "prod", table_deletable),
    ("production_data_protected", "prod", table_without_pitr),
    ("production_data_protected", "prod", bucket_force_destroyed),
    ("production_data_protected", "prod", versioning_suspended),
]


def test_every_rule_is_shown_to_fail() -> None:
    assert {rule for rule, _, _ in BREAKAGES} == set(RULES)


@pytest.mark.parametrize(
    ("rule", "stage", "breakage"), BREAKAGES, ids=[f"{rule}-{stage}-{b.__name__}" for rule, stage, b in BREAKAGES]
)
def test_a_rule_fails_on_a_broken_copy_of_the_graph(
    stack_graphs: dict[str, Graph], rule: str, stage: str, breakage: Callable[[Graph], Any]
) -> None:
    assert evaluate(stack_graphs[stage], stage, [rule]) == []  # holds on the real graph...
    violations = evaluate(broken(stack_graphs[stage], breakage), stage, [rule])  # ...not on the broken copy
    assert violations and {v.rule for v in violations} == {rule}
    assert all(v.resource and v.message for v in violations)
