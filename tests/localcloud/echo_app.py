"""An app definition for the local-cloud tests: the real one's resources, an echo function and routes
covering literal paths, ``{param}``, greedy ``{param+}`` and ``ANY``, and a queue-triggered worker.
``fhr local --app tests.localcloud.echo_app:APP`` runs it too."""

from __future__ import annotations

from fhrapp.definition import APP as REAL_APP
from fhrapp.definition import AppDefinition, DataResource, Function, Grant, QueueTrigger, Route

ECHO = Function(
    name="echo",
    handler="tests.localcloud.echo_handler.handler",
    description="echoes its API Gateway event",
    memory_mb=256,
    timeout_s=10,
    resources=("ecg_bucket",),
    grants=(Grant("ecg_bucket", ("s3:PutObject",), prefix="uploads/"),),  # it presigns uploads, as the web one
    keep_warm=True,
)

ECHO_DLQ = DataResource("echo_dlq", "queue", "ECHO_DLQ_URL")
ECHO_QUEUE = DataResource(
    "echo_queue", "queue", "ECHO_QUEUE_URL", dead_letter="echo_dlq", max_receives=2, visibility_timeout_s=1
)
ECHO_WORKER = Function(
    name="echo_worker",
    handler="tests.localcloud.echo_handler.sqs_handler",
    description="fails the messages whose body starts with 'fail', reporting them as batch item failures",
    memory_mb=256,
    timeout_s=10,
    resources=("echo_queue",),
    trigger=QueueTrigger("echo_queue", batch_size=5, max_batching_window_s=1, max_concurrency=2),
)

APP = AppDefinition(
    name="fhrtest",
    functions=(ECHO, ECHO_WORKER),
    routes=(
        Route("GET", "/echo", "echo"),
        Route("POST", "/echo", "echo"),
        Route("GET", "/items/{id}", "echo"),
        Route("ANY", "/files/{path+}", "echo"),
        Route("GET", "/shape/{kind}", "echo"),
        Route("GET", "/boom", "echo"),
        Route("GET", "/slow", "echo"),
        Route("POST", "/presign", "echo"),
        Route("GET", "/public", "echo", public=True),
        Route("GET", "/scoped", "echo", scopes=("echo/read", "echo/admin")),
    ),
    resources=(*REAL_APP.resources, ECHO_DLQ, ECHO_QUEUE),
)
APP.validate()

# The echo app with one function whose environment Lambda would refuse (over 4 KB once deployed):
# ``fhr local --app tests.localcloud.echo_app:TOO_BIG_ENVIRONMENT`` must stop at start, as ``pulumi up`` would.
TOO_BIG_ENVIRONMENT = AppDefinition(
    name="fhrtest",
    functions=(Function(**{**ECHO.__dict__, "extra_env": {"NOTES": "n" * 4050}}), ECHO_WORKER),
    routes=APP.routes,
    resources=APP.resources,
)
