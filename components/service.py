"""``fhr:service:FhrService``: the whole stack, composed from the app definition and the stack config.

Everything the service deploys is derived from ``fhrapp.definition.APP`` (functions, routes, data
resources, queue triggers, keep-warm targets) and one validated :class:`~fhrapp.config.StackConfig`;
the Lambda code comes from the bundle manifest. ``stack_outputs`` is the one documented output shape
(see ``__main__.py``), shared with the local cloud.

Order matters only where AWS needs it: data resources first (functions name them), then functions
(their event source mappings wait for their roles), the API, the bucket's CORS rule (it admits the
API's origin, where the page is served), keep-warm, and observability last (it watches all of them).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from bundler.errors import ManifestInvalid
from bundler.manifest import Manifest
from components.api import HttpApi
from components.function import DataRefs, FunctionCode, FunctionSettings, LambdaFunction
from components.keepwarm import KeepWarm
from components.observability import Observability, check_alarms
from components.queues import Queues
from components.schedules import Schedules
from components.storage import EcgStorage
from components.tables import Tables
from fhrapp.config import PROJECT, ConfigError, StackConfig
from fhrapp.definition import AppDefinition, physical_name


def check_bundle(config: StackConfig, manifest: Manifest) -> None:
    """The bundle must carry a dependency layer built for every function's architecture."""
    if manifest.layer is None:
        raise ManifestInvalid(f"{manifest.root} has no dependency layer: run `make bundle` (without --no-layer)")
    for name, sizing in config.functions.items():
        if sizing.architecture != manifest.architecture:
            raise ConfigError(
                f"functions.{name}.architecture",
                config.source,
                f"is {sizing.architecture!r} but the Lambda bundle's layer is built for {manifest.architecture!r}",
            )


def check_triggers(app: AppDefinition, config: StackConfig) -> None:
    """A queue-triggered function must be able to take the mapping's concurrency and finish before redelivery."""
    for fn in app.functions:
        if fn.trigger is None:
            continue
        sizing, queue = config.function(fn.name), app.resource(fn.trigger.queue)
        if sizing.reserved_concurrency < fn.trigger.max_concurrency:
            raise ConfigError(
                f"functions.{fn.name}.reservedConcurrency",
                config.source,
                f"is {sizing.reserved_concurrency} but the {fn.trigger.queue} mapping runs up to "
                f"{fn.trigger.max_concurrency} at once; below that, SQS batches are throttled and retried",
            )
        if sizing.timeout_s > queue.visibility_timeout_s:
            raise ConfigError(
                f"functions.{fn.name}.timeout",
                config.source,
                f"is {sizing.timeout_s} s, longer than {queue.logical}'s visibility timeout "
                f"({queue.visibility_timeout_s} s): Lambda refuses the mapping, a message would be redelivered mid-run",
            )


class FhrService(pulumi.ComponentResource):
    def __init__(
        self,
        app: AppDefinition,
        config: StackConfig,
        manifest: Manifest,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        check_bundle(config, manifest)
        check_triggers(app, config)
        check_alarms(app, config)
        name = physical_name(PROJECT, config.stage, "service")
        super().__init__("fhr:service:FhrService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.names: dict[str, pulumi.Output[str]] = {}  # what the environment carries: names, queue URLs
        self.arns: dict[str, pulumi.Output[str]] = {}
        self.data_outputs: dict[str, pulumi.Output[str]] = {}
        self.storage: dict[str, EcgStorage] = {}
        self.queues: dict[str, aws.sqs.Queue] = {}
        self._data(app, config, child)
        layer = self._layer(config, manifest, child)
        code = FunctionCode(manifest.code_path, manifest.code.sha256_b64, layer.arn)
        self.functions = {
            fn.name: LambdaFunction(
                physical_name(PROJECT, config.stage, fn.name),
                app,
                fn,
                FunctionSettings(
                    config.stage, config.function(fn.name), config.log_retention_days, config.auth.tenancy
                ),
                code,
                DataRefs(self.names, self.arns),
                opts=child,
            )
            for fn in app.functions
        }
        lambdas = {logical: component.function for logical, component in self.functions.items()}
        aliases = {logical: component.alias for logical, component in self.functions.items()}
        self.api = HttpApi(physical_name(PROJECT, config.stage, "api"), app, config, aliases, opts=child)
        for physical, storage in self.storage.items():
            storage.allow_browser_access(physical, config.api.cors_origins, self.api.url)
        warmed = {physical_name(PROJECT, config.stage, fn.name): aliases[fn.name] for fn in app.warmed_functions}
        KeepWarm(physical_name(PROJECT, config.stage, "keep-warm"), warmed, config.keep_warm, opts=child)
        scheduled = {physical_name(PROJECT, config.stage, t.name): (t, aliases[t.function]) for t in app.schedules}
        Schedules(physical_name(PROJECT, config.stage, "schedules"), scheduled, opts=child)
        self.observability = Observability(
            physical_name(PROJECT, config.stage, "observability"),
            config,
            lambdas,
            self.api.api,
            self.queues,
            app.dead_letter_queues,
            opts=child,
        )
        self.stack_outputs: dict[str, pulumi.Input[object]] = {
            "api_url": self.api.url,
            **self.data_outputs,
            "functions": {logical: fn.name for logical, fn in lambdas.items()},
            "region": config.region,
            "stage": config.stage,
            "dashboard_name": self.observability.dashboard.dashboard_name,
        }
        self.register_outputs(self.stack_outputs)

    def _data(self, app: AppDefinition, config: StackConfig, child: pulumi.ResourceOptions) -> None:
        """The stack's data resources; fills ``names``, ``arns`` (by logical name) and ``data_outputs``."""
        tables, queues = {}, {}
        for resource in app.resources:
            physical = physical_name(PROJECT, config.stage, resource.logical)
            if resource.kind == "bucket":
                self.storage[physical] = EcgStorage(
                    physical, resource, config.bucket, opts=child, protect=config.protect_data
                )
                bucket = self.storage[physical].bucket
                self.names[resource.logical], self.arns[resource.logical] = bucket.bucket, bucket.arn
                self.data_outputs[resource.logical] = bucket.bucket
            elif resource.kind == "table":
                tables[physical] = resource
            elif resource.kind == "queue":
                queues[physical] = resource
            else:
                raise ValueError(f"{resource.logical} has a kind the stack cannot deploy: {resource.kind!r}")
        if tables:
            component_name = physical_name(PROJECT, config.stage, "tables")
            component = Tables(component_name, tables, config.tables, opts=child, protect=config.protect_data)
            for logical, table in component.tables.items():
                self.names[logical], self.arns[logical] = table.name, table.arn
                self.data_outputs[logical] = table.name
        if queues:
            self.queues = Queues(physical_name(PROJECT, config.stage, "queues"), queues, opts=child).queues
            for logical, queue in self.queues.items():
                self.names[logical], self.arns[logical] = queue.url, queue.arn
                self.data_outputs[app.output_key(app.resource(logical))] = queue.url

    @staticmethod
    def _layer(config: StackConfig, manifest: Manifest, child: pulumi.ResourceOptions) -> aws.lambda_.LayerVersion:
        assert manifest.layer is not None and manifest.layer_path is not None  # check_bundle ensured it
        name = physical_name(PROJECT, config.stage, "deps")
        return aws.lambda_.LayerVersion(
            name,
            layer_name=name,
            description=f"Runtime dependencies of the {PROJECT} functions ({manifest.layer.requirements_sha256})",
            code=pulumi.FileArchive(str(manifest.layer_path)),
            source_code_hash=manifest.layer.sha256_b64,
            compatible_runtimes=[manifest.runtime],
            compatible_architectures=[manifest.architecture],
            opts=child,
        )
