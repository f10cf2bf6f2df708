"""``fhr:service:FhrService``: the whole stack, composed from the app definition and the stack config.

Everything the service deploys is derived from ``fhrapp.definition.APP`` (functions, routes, data
resources, keep-warm targets) and one validated :class:`~fhrapp.config.StackConfig`; the Lambda code
comes from the bundle manifest. ``stack_outputs`` is the one documented output shape (see
``__main__.py``), shared with the local cloud.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from bundler.errors import ManifestInvalid
from bundler.manifest import Manifest
from components.api import HttpApi
from components.function import DataRefs, FunctionCode, FunctionSettings, LambdaFunction
from components.keepwarm import KeepWarm
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


class FhrService(pulumi.ComponentResource):
    def __init__(
        self,
        app: AppDefinition,
        config: StackConfig,
        manifest: Manifest,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        check_bundle(config, manifest)
        name = physical_name(PROJECT, config.stage, "service")
        super().__init__("fhr:service:FhrService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.names: dict[str, pulumi.Output[str]] = {}
        self.arns: dict[str, pulumi.Output[str]] = {}
        self._data(app, config, child)
        layer = self._layer(config, manifest, child)
        code = FunctionCode(manifest.code_path, manifest.code.sha256_b64, layer.arn)
        self.functions = {
            fn.name: LambdaFunction(
                physical_name(PROJECT, config.stage, fn.name),
                app,
                fn,
                FunctionSettings(config.stage, config.function(fn.name), config.log_retention_days),
                code,
                DataRefs(self.names, self.arns),
                opts=child,
            )
            for fn in app.functions
        }
        lambdas = {logical: component.function for logical, component in self.functions.items()}
        self.api = HttpApi(physical_name(PROJECT, config.stage, "api"), app, config, lambdas, opts=child)
        warmed = {physical_name(PROJECT, config.stage, fn.name): lambdas[fn.name] for fn in app.warmed_functions}
        KeepWarm(physical_name(PROJECT, config.stage, "keep-warm"), warmed, config.keep_warm, opts=child)
        self.stack_outputs: dict[str, pulumi.Input[object]] = {
            "api_url": self.api.url,
            **self.names,
            "functions": {logical: fn.name for logical, fn in lambdas.items()},
            "region": config.region,
            "stage": config.stage,
        }
        self.register_outputs(self.stack_outputs)

    def _data(self, app: AppDefinition, config: StackConfig, child: pulumi.ResourceOptions) -> None:
        """The stack's data resources; fills ``names`` and ``arns`` keyed by logical name."""
        tables = {}
        for resource in app.resources:
            physical = physical_name(PROJECT, config.stage, resource.logical)
            if resource.kind == "bucket":
                bucket = EcgStorage(physical, resource, config.bucket, opts=child).bucket
                self.names[resource.logical], self.arns[resource.logical] = bucket.bucket, bucket.arn
            elif resource.kind == "table":
                tables[physical] = resource
            else:
                raise NotImplementedError(f"{resource.kind} resources ({resource.logical}) are not deployed yet")
        if tables:
            component = Tables(physical_name(PROJECT, config.stage, "tables"), tables, config.tables, opts=child)
            for logical, table in component.tables.items():
                self.names[logical], self.arns[logical] = table.name, table.arn

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
