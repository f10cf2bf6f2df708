"""``fhr:observability:Observability``: the stack's CloudWatch dashboard and alarms.

Operators get one dashboard per stack (``fhr-<stage>-dashboard``): per function invocations,
errors, throttles and p50/p99 duration; concurrent executions; the HTTP API's requests, 4xx/5xx and
latency; queue and dead-letter depth; the alarms' state; and the service's own embedded-metric-format
(EMF) metrics. Alarms fire on each function's errors and throttles, on the p99 duration of the
``fhr`` function (the latency callers feel) and on any message in a dead-letter queue; thresholds
come from the stack's ``fhr:alarms`` section. With ``alarmEmail`` set, every alarm notifies an SNS
topic that mails it.

EMF contract for the handlers (they do not import this module): metrics go to namespace ``FHR`` with
the single dimension ``Function`` = the deployed function name (``AWS_LAMBDA_FUNCTION_NAME``), which
already names the stage, so dev and prod never mix in one account.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from fhrapp.config import PROJECT, AlarmsConfig, ConfigError, StackConfig
from fhrapp.definition import AppDefinition, dashboard_name, physical_name

CUSTOM_NAMESPACE = "FHR"
CUSTOM_DIMENSION = "Function"
# EMF metric -> the statistics the dashboard shows for it.
CUSTOM_METRICS: dict[str, tuple[str, ...]] = {
    "FhrDurationMs": ("p50", "p99"),
    "BytesStreamed": ("Sum",),
    "CacheHits": ("Sum",),
    "ColdStarts": ("Sum",),
    "WarmPings": ("Sum",),
}
LATENCY_FUNCTION = "fhr"  # the function whose p99 duration is alarmed
WIDGET_WIDTH, WIDGET_HEIGHT, GRID_WIDTH = 12, 6, 24
OVER = "GreaterThanThreshold"


def check_alarms(app: AppDefinition, config: StackConfig) -> None:
    """A p99 threshold at or above the function's timeout could never fire: refuse it by name."""
    if LATENCY_FUNCTION not in {fn.name for fn in app.functions}:
        return
    timeout_ms = config.function(LATENCY_FUNCTION).timeout_s * 1000
    if config.alarms.p99_duration_ms >= timeout_ms:
        raise ConfigError(
            "alarms.p99DurationMs",
            config.source,
            f"is {config.alarms.p99_duration_ms} but must stay below the {LATENCY_FUNCTION} function's timeout "
            f"({timeout_ms} ms), or the alarm can never fire",
        )


@dataclass(frozen=True)
class Watched:
    """Deployed names of what the dashboard shows, resolved (logical name -> deployed name)."""

    region: str
    period_s: int
    functions: Mapping[str, str]
    api_id: str
    queues: Mapping[str, str]
    dead_letters: Sequence[str]
    alarm_arns: Sequence[str]


def dashboard_body(watched: Watched) -> dict[str, Any]:
    """The dashboard document: an alarm-status strip, then metric widgets two per row."""
    metric_widgets = [
        *(widget for logical in watched.functions for widget in _function_widgets(watched, logical)),
        _widget(
            watched,
            "Concurrent executions",
            "Maximum",
            [["AWS/Lambda", "ConcurrentExecutions", "FunctionName", name] for name in watched.functions.values()],
        ),
        *_api_widgets(watched),
        *_queue_widgets(watched),
        *(_custom_widget(watched, metric, stats) for metric, stats in CUSTOM_METRICS.items()),
    ]
    alarms = {
        "type": "alarm",
        "x": 0,
        "y": 0,
        "width": GRID_WIDTH,
        "height": 3,
        "properties": {"title": "Alarms", "alarms": sorted(watched.alarm_arns)},
    }
    for index, widget in enumerate(metric_widgets):
        widget.update(x=(index % 2) * WIDGET_WIDTH, y=3 + (index // 2) * WIDGET_HEIGHT)
    return {"widgets": [alarms, *metric_widgets]}


def _widget(watched: Watched, title: str, stat: str, metrics: list[list[Any]]) -> dict[str, Any]:
    return {
        "type": "metric",
        "width": WIDGET_WIDTH,
        "height": WIDGET_HEIGHT,
        "properties": {
            "title": title,
            "view": "timeSeries",
            "stacked": False,
            "region": watched.region,
            "period": watched.period_s,
            "stat": stat,
            "metrics": metrics,
        },
    }


def _function_widgets(watched: Watched, logical: str) -> list[dict[str, Any]]:
    name = watched.functions[logical]
    counts = [["AWS/Lambda", metric, "FunctionName", name] for metric in ("Invocations", "Errors", "Throttles")]
    durations = [["AWS/Lambda", "Duration", "FunctionName", name, {"stat": stat}] for stat in ("p50", "p99")]
    return [
        _widget(watched, f"{logical}: invocations, errors, throttles", "Sum", counts),
        _widget(watched, f"{logical}: duration (ms)", "p99", durations),
    ]


def _api_widgets(watched: Watched) -> list[dict[str, Any]]:
    api = ["ApiId", watched.api_id]
    requests = [["AWS/ApiGateway", metric, *api] for metric in ("Count", "4xx", "5xx")]
    latency = [
        ["AWS/ApiGateway", "Latency", *api, {"stat": "p50"}],
        ["AWS/ApiGateway", "Latency", *api, {"stat": "p99"}],
        ["AWS/ApiGateway", "IntegrationLatency", *api, {"stat": "p99"}],
    ]
    return [
        _widget(watched, "API: requests, 4xx, 5xx", "Sum", requests),
        _widget(watched, "API: latency (ms)", "p99", latency),
    ]


def _queue_widgets(watched: Watched) -> list[dict[str, Any]]:
    work = [logical for logical in watched.queues if logical not in watched.dead_letters]
    backlog = [
        ["AWS/SQS", metric, "QueueName", watched.queues[logical]]
        for logical in work
        for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage")
    ]
    dead = [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", watched.queues[logical]]
        for logical in watched.dead_letters
    ]
    widgets = []
    if backlog:
        widgets.append(_widget(watched, "Queues: backlog and oldest message age (s)", "Maximum", backlog))
    if dead:
        widgets.append(_widget(watched, "Dead-letter queue depth", "Maximum", dead))
    return widgets


def _custom_widget(watched: Watched, metric: str, stats: tuple[str, ...]) -> dict[str, Any]:
    metrics = [
        [CUSTOM_NAMESPACE, metric, CUSTOM_DIMENSION, name, {"stat": stat}]
        for name in watched.functions.values()
        for stat in stats
    ]
    return _widget(watched, f"{CUSTOM_NAMESPACE}: {metric}", stats[-1], metrics)


class Observability(pulumi.ComponentResource):
    dashboard: aws.cloudwatch.Dashboard
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    topic: aws.sns.Topic | None

    def __init__(
        self,
        name: str,
        config: StackConfig,
        functions: Mapping[str, aws.lambda_.Function],
        api: aws.apigatewayv2.Api,
        queues: Mapping[str, aws.sqs.Queue],
        dead_letters: Sequence[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``functions``/``queues`` are keyed by logical name; ``dead_letters`` names the dead-letter queues."""
        super().__init__("fhr:observability:Observability", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self)
        self._settings = config.alarms
        self._stage = config.stage
        self.topic = self._topic(self._physical("alarms"), config.alarms)
        actions = [self.topic.arn] if self.topic is not None else []
        self.alarms = {}
        for logical, function in functions.items():
            self._function_alarms(logical, function, actions)
        for logical in dead_letters:
            self._dead_letter_alarm(logical, queues[logical], actions)
        self.dashboard = self._dashboard(
            dashboard_name(PROJECT, self._stage), config, functions, api, queues, dead_letters
        )
        self.register_outputs({"dashboard": self.dashboard.dashboard_name, "alarms": len(self.alarms)})

    def _physical(self, logical: str) -> str:
        return physical_name(PROJECT, self._stage, logical)

    def _topic(self, name: str, settings: AlarmsConfig) -> aws.sns.Topic | None:
        if settings.alarm_email is None:
            return None
        topic = aws.sns.Topic(name, name=name, opts=self._child)
        aws.sns.TopicSubscription(
            f"{name}-email",
            topic=topic.arn,
            protocol="email",
            endpoint=settings.alarm_email,
            opts=self._child,
        )
        return topic

    def _alarm(
        self, key: str, description: str, actions: list[pulumi.Output[str]], **metric: Any
    ) -> aws.cloudwatch.MetricAlarm:
        alarm = aws.cloudwatch.MetricAlarm(
            key,
            name=key,
            alarm_description=description,
            comparison_operator=OVER,
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            **metric,
            opts=self._child,
        )
        self.alarms[key] = alarm
        return alarm

    def _function_alarms(self, logical: str, function: aws.lambda_.Function, actions: list[pulumi.Output[str]]) -> None:
        settings = self._settings
        name = function.name
        common = {
            "namespace": "AWS/Lambda",
            "dimensions": {"FunctionName": name},
            "period": settings.period_s,
            "evaluation_periods": settings.evaluation_periods,
        }
        deployed = self._physical(logical)
        for metric, threshold in (("Errors", settings.errors_per_period), ("Throttles", settings.throttles_per_period)):
            self._alarm(
                f"{deployed}-{metric.lower()}",
                f"{logical}: more than {threshold} {metric.lower()} per {settings.period_s} s",
                actions,
                metric_name=metric,
                statistic="Sum",
                threshold=threshold,
                **common,
            )
        if logical == LATENCY_FUNCTION:
            self._alarm(
                f"{deployed}-p99-duration",
                f"{logical}: p99 duration above {settings.p99_duration_ms} ms",
                actions,
                metric_name="Duration",
                extended_statistic="p99",
                threshold=settings.p99_duration_ms,
                **common,
            )

    def _dead_letter_alarm(self, logical: str, queue: aws.sqs.Queue, actions: list[pulumi.Output[str]]) -> None:
        """One datapoint is enough: a message reaches the dead-letter queue only after every retry failed."""
        threshold = self._settings.dlq_messages
        self._alarm(
            f"{self._physical(logical)}-depth",
            f"{logical}: more than {threshold} messages failed every delivery",
            actions,
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": queue.name},
            statistic="Maximum",
            period=self._settings.period_s,
            evaluation_periods=1,
            threshold=threshold,
        )

    def _dashboard(
        self,
        name: str,
        config: StackConfig,
        functions: Mapping[str, aws.lambda_.Function],
        api: aws.apigatewayv2.Api,
        queues: Mapping[str, aws.sqs.Queue],
        dead_letters: Sequence[str],
    ) -> aws.cloudwatch.Dashboard:
        function_keys, queue_keys = list(functions), list(queues)
        alarm_arns = [alarm.arn for alarm in self.alarms.values()]
        values = pulumi.Output.all(
            api.id,
            pulumi.Output.all(*(functions[k].name for k in function_keys)),
            pulumi.Output.all(*(queues[k].name for k in queue_keys)),
            pulumi.Output.all(*alarm_arns),
        )

        def body(resolved: list[Any]) -> str:
            api_id, function_names, queue_names, arns = resolved
            watched = Watched(
                region=config.region,
                period_s=config.alarms.period_s,
                functions=dict(zip(function_keys, function_names, strict=True)),
                api_id=api_id,
                queues=dict(zip(queue_keys, queue_names, strict=True)),
                dead_letters=list(dead_letters),
                alarm_arns=list(arns),
            )
            return json.dumps(dashboard_body(watched))

        return aws.cloudwatch.Dashboard(
            name,
            dashboard_name=name,
            dashboard_body=values.apply(body),
            opts=self._child,
        )
