"""CloudWatch embedded metric format (EMF): metrics written as one JSON line on stdout.

Lambda sends stdout to CloudWatch Logs, which turns a line carrying an ``_aws`` block into metrics
with no API call, no client and no added latency (``PutMetricData`` would cost a request per flush).
The local cloud keeps the same lines in the function's log. See :mod:`handlers.metrics.emf`.
"""

from handlers.metrics.emf import (
    METRICS,
    NAMESPACE,
    InvalidMetricValue,
    MetricsError,
    UnknownMetric,
    emit,
    metric_record,
)

__all__ = ["METRICS", "NAMESPACE", "InvalidMetricValue", "MetricsError", "UnknownMetric", "emit", "metric_record"]
