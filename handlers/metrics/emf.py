"""A tiny embedded-metric-format emitter, with the service's documented metric names and units.

One call, one stdout line::

    {"_aws": {"Timestamp": 1764072000000,
              "CloudWatchMetrics": [{"Namespace": "FHR", "Dimensions": [["Function"]],
                                     "Metrics": [{"Name": "FhrDurationMs", "Unit": "Milliseconds"}]}]},
     "Function": "fhr-dev-fhr", "FhrDurationMs": 812.4, "requestId": "..."}

Metrics (namespace ``FHR``, dimension ``Function`` = the deployed function name):

=================  ============  ==============================================================
``FhrDurationMs``  Milliseconds  time to produce one FHR result (read + estimate), cache misses
``BytesStreamed``  Bytes         ECG object bytes read from S3 for one result
``CacheHits``      Count         results served from the results table
``CacheMisses``    Count         results computed because the table had none
``ColdStarts``     Count         1 on an environment's first invocation
``WarmPings``      Count         keep-warm events answered (the runtime answers them itself)
=================  ============  ==============================================================

Names outside this table are refused (:class:`UnknownMetric`), so a typo cannot create a metric no
dashboard or alarm reads. Extra ``properties`` (request id, record key, ...) ride along as plain
fields: searchable in Logs Insights, not metrics. Each line also carries ``level`` and ``message``,
so it is one of the runtime's structured log lines too (``handlers.runtime.logging``: every JSON
line on stdout has them). Only stdlib imports: cheap in any handler.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

NAMESPACE = "FHR"
DIMENSION = "Function"
METRICS: dict[str, str] = {
    "FhrDurationMs": "Milliseconds",
    "BytesStreamed": "Bytes",
    "CacheHits": "Count",
    "CacheMisses": "Count",
    "ColdStarts": "Count",
    "WarmPings": "Count",
}
_RESERVED = frozenset({"_aws", DIMENSION})
LOG_FIELDS = {"level": "INFO", "message": "metrics"}


class MetricsError(ValueError):
    """Base of the metric errors: a metric line that CloudWatch would reject or misread."""


class UnknownMetric(MetricsError):
    """The name is not one of the documented ``METRICS``."""


class InvalidMetricValue(MetricsError):
    """A value is not a finite number (CloudWatch drops NaN/inf, and bools are not counts)."""


def _checked(name: str, value: Any) -> float | int:
    if name not in METRICS:
        raise UnknownMetric(f"unknown metric {name!r}; documented: {', '.join(METRICS)}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidMetricValue(f"metric {name!r} needs a finite number, got {value!r}")
    return value


def metric_record(
    values: Mapping[str, float],
    *,
    function: str | None = None,
    timestamp_ms: int | None = None,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The EMF document for ``values`` (metric name -> number) under the ``Function`` dimension."""
    if not values:
        raise MetricsError("an EMF line needs at least one metric")
    checked = {name: _checked(name, value) for name, value in values.items()}
    extra = dict(properties or {})
    clash = _RESERVED.intersection(extra) | set(checked).intersection(extra)
    if clash:
        raise MetricsError(f"properties may not redefine {sorted(clash)}")
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": METRICS[name]} for name in checked],
                }
            ],
        },
        DIMENSION: function if function is not None else os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"),
        **LOG_FIELDS,
        **extra,
        **checked,
    }


def emit(
    values: Mapping[str, float],
    *,
    function: str | None = None,
    properties: Mapping[str, Any] | None = None,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Write ``values`` as one EMF line (stdout by default) and return the document written."""
    document = metric_record(values, function=function, properties=properties)
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(document, separators=(",", ":"), default=str) + "\n")
    out.flush()
    return document
