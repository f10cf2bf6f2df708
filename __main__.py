"""The Pulumi program: one FHR service stack per stage (``pulumi stack select dev|prod && pulumi up``).

It loads and validates the stack config once (``Pulumi.<stack>.yaml``), reads the Lambda bundle
manifest (``dist/lambda/manifest.json``, built by ``make bundle``; ``FHR_BUNDLE_DIR`` points
elsewhere), builds :class:`components.service.FhrService` and exports the stack outputs. A wrong
config key or a missing bundle stops the program with one clear message and no stack trace.

Stack outputs (``pulumi stack output --json``; the local cloud prints the same shape and adds
``aws_endpoint_url`` and ``lambda_endpoint_url``)::

    {
      "api_url": "https://<api id>.execute-api.<region>.amazonaws.com",
      "ecg_bucket": "fhr-<stage>-ecg-bucket-<suffix>",     # S3 adds a unique suffix to the prefix
      "results_table": "fhr-<stage>-results_table",
      "items_table": "fhr-<stage>-items_table",
      "jobs_queue_url": "https://sqs.<region>.amazonaws.com/<account>/fhr-<stage>-jobs_queue",
      "dlq_url": "https://sqs.<region>.amazonaws.com/<account>/fhr-<stage>-jobs_dlq",
      "functions": {"fhr": "fhr-<stage>-fhr", "items": "fhr-<stage>-items",
                    "worker": "fhr-<stage>-worker", "web": "fhr-<stage>-web"},
      "region": "eu-west-1",
      "stage": "<stage>",
      "dashboard_name": "fhr-<stage>-dashboard"           # CloudWatch dashboard of the stack
    }

Every data resource of the app definition appears: buckets and tables by logical name (their
deployed name), queues as ``<logical>_url`` (their URL), except the stack's one dead-letter queue,
which is ``dlq_url``. ``functions`` maps every logical function name to its deployed name.
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from bundler.errors import BundleError
from bundler.manifest import read_manifest
from components.observability import check_alarms
from components.service import FhrService, check_bundle, check_triggers
from components.stackconfig import load_stack_config
from fhrapp.config import ConfigError
from fhrapp.definition import APP

BUNDLE_DIR = Path(os.environ.get("FHR_BUNDLE_DIR") or Path(__file__).resolve().parent / "dist" / "lambda")

try:
    config = load_stack_config()
    manifest = read_manifest(BUNDLE_DIR)
    check_bundle(config, manifest)
    check_triggers(APP, config)
    check_alarms(APP, config)
except (ConfigError, BundleError) as exc:
    raise pulumi.RunError(str(exc)) from exc

service = FhrService(APP, config, manifest)
outputs = service.stack_outputs
for key, value in outputs.items():
    pulumi.export(key, value)
