"""An app definition for the local-cloud tests: the real one's resources, an echo function and routes
covering literal paths, ``{param}``, greedy ``{param+}`` and ``ANY``. ``fhr local --app`` can run it too."""

from __future__ import annotations

from fhrapp.definition import APP as REAL_APP
from fhrapp.definition import AppDefinition, Function, Route

ECHO = Function(
    name="echo",
    handler="tests.localcloud.echo_handler.handler",
    description="echoes its API Gateway event",
    memory_mb=256,
    timeout_s=10,
    resources=("ecg_bucket",),
    keep_warm=True,
)

APP = AppDefinition(
    name="fhrtest",
    functions=(ECHO,),
    routes=(
        Route("GET", "/echo", "echo"),
        Route("POST", "/echo", "echo"),
        Route("GET", "/items/{id}", "echo"),
        Route("ANY", "/files/{path+}", "echo"),
        Route("GET", "/shape/{kind}", "echo"),
        Route("GET", "/boom", "echo"),
        Route("GET", "/slow", "echo"),
    ),
    resources=REAL_APP.resources,
)
APP.validate()
