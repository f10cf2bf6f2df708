"""``fhr:api:HttpApi``: the API Gateway v2 HTTP API in front of the functions.

One ``AWS_PROXY`` integration per function that serves a route (payload format 2.0; a function no
route names, such as the queue worker, gets neither an integration nor API Gateway's permission to
invoke it), one route per route of the app definition wired to its function's integration, a
``$default`` stage that auto-deploys, writes JSON access logs and throttles per the stack config,
CORS from the config, and, when the stack's auth mode is ``jwt``, a JWT authorizer attached to every
route except the definition's ``public`` ones (``GET /``: a browser navigating to the page sends no
bearer token; the page then sends one), with the route's OAuth scopes from the definition as
``authorization_scopes`` (a token needs any of them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from fhrapp.config import StackConfig
from fhrapp.definition import API_CORS_HEADERS, API_CORS_MAX_AGE_S, AppDefinition, Route

PAYLOAD_FORMAT = "2.0"
MAX_INTEGRATION_TIMEOUT_MS = 30_000  # HTTP APIs cut integrations off at 30 s
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integrationLatency",
    "latency": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
}


class HttpApi(pulumi.ComponentResource):
    api: aws.apigatewayv2.Api
    stage: aws.apigatewayv2.Stage
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        app: AppDefinition,
        config: StackConfig,
        functions: Mapping[str, aws.lambda_.Alias],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``functions`` maps each logical function name to the alias of it the API invokes."""
        super().__init__("fhr:api:HttpApi", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self)
        self.api = aws.apigatewayv2.Api(
            name,
            name=name,
            protocol_type="HTTP",
            description=f"{app.name} HTTP API ({config.stage})",
            cors_configuration=self._cors(app, config),
            opts=self._child,
        )
        authorizer = self._authorizer(name, config)
        routed = {logical: function for logical, function in functions.items() if app.routes_of(logical)}
        integrations = {
            logical: self._integration(name, logical, function, config) for logical, function in routed.items()
        }
        self.routes = [self._route(name, route, integrations[route.function], authorizer) for route in app.routes]
        self.stage = self._stage(name, config)
        for logical, function in routed.items():
            aws.lambda_.Permission(
                f"{name}-invoke-{logical}",
                statement_id="InvokeFromHttpApi",  # alphanumeric, as IAM statement ids are (autonames have '-')
                action="lambda:InvokeFunction",
                function=function.function_name,
                qualifier=function.name,
                principal="apigateway.amazonaws.com",
                source_arn=self.api.execution_arn.apply(lambda arn: f"{arn}/*/*"),
                opts=self._child,
            )
        self.url = self.api.api_endpoint
        self.register_outputs({"url": self.url, "id": self.api.id})

    @staticmethod
    def _cors(app: AppDefinition, config: StackConfig) -> aws.apigatewayv2.ApiCorsConfigurationArgs | None:
        if not config.api.cors_origins:
            return None
        methods = sorted({route.method for route in app.routes} | {"OPTIONS"})
        return aws.apigatewayv2.ApiCorsConfigurationArgs(
            allow_origins=list(config.api.cors_origins),
            allow_methods=methods,
            allow_headers=list(API_CORS_HEADERS),
            max_age=API_CORS_MAX_AGE_S,
        )

    def _authorizer(self, name: str, config: StackConfig) -> aws.apigatewayv2.Authorizer | None:
        if config.auth.mode != "jwt":
            return None
        return aws.apigatewayv2.Authorizer(
            f"{name}-jwt",
            api_id=self.api.id,
            name=f"{name}-jwt",
            authorizer_type="JWT",
            identity_sources=["$request.header.Authorization"],
            jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
                issuer=config.auth.issuer, audiences=list(config.auth.audience)
            ),
            opts=self._child,
        )

    def _integration(
        self, name: str, logical: str, function: aws.lambda_.Alias, config: StackConfig
    ) -> aws.apigatewayv2.Integration:
        timeout_ms = min(MAX_INTEGRATION_TIMEOUT_MS, (config.function(logical).timeout_s + 1) * 1000)
        return aws.apigatewayv2.Integration(
            f"{name}-{logical}",
            api_id=self.api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=function.invoke_arn,
            payload_format_version=PAYLOAD_FORMAT,
            timeout_milliseconds=timeout_ms,
            opts=self._child,
        )

    def _route(
        self,
        name: str,
        route: Route,
        integration: aws.apigatewayv2.Integration,
        authorizer: aws.apigatewayv2.Authorizer | None,
    ) -> aws.apigatewayv2.Route:
        slug = route.path.strip("/").replace("/", "-").lower() or "root"
        if route.public:
            authorizer = None
        return aws.apigatewayv2.Route(
            f"{name}-{route.method.lower()}-{slug}",
            api_id=self.api.id,
            route_key=route.route_key,
            target=integration.id.apply(lambda integration_id: f"integrations/{integration_id}"),
            authorization_type="JWT" if authorizer else "NONE",
            authorizer_id=authorizer.id if authorizer else None,
            authorization_scopes=list(route.scopes) if authorizer and route.scopes else None,
            opts=self._child,
        )

    def _stage(self, name: str, config: StackConfig) -> aws.apigatewayv2.Stage:
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{name}",
            retention_in_days=config.log_retention_days,
            opts=self._child,
        )
        return aws.apigatewayv2.Stage(
            f"{name}-default",
            api_id=self.api.id,
            name="$default",
            auto_deploy=True,
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=json.dumps(ACCESS_LOG_FORMAT)
            ),
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_burst_limit=config.api.throttle_burst,
                throttling_rate_limit=config.api.throttle_rate,
            ),
            opts=self._child,
        )
