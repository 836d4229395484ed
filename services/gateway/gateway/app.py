"""Wiring only: settings, internal clients, the Kafka bus, middleware and routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.api import health, public_router
from gateway.api.asyncapi import build_asyncapi
from gateway.api.openapi import install_openapi
from gateway.api.web import WebUI
from gateway.clients import OidcProvider, Upstream
from gateway.domain import ClaimMapping, ExecutionBus, WorkspaceModelsView
from gateway.events import KafkaExecutionBus, StateReadModels
from gateway.service import (
    DevTokenVerifier,
    EitherTokenVerifier,
    Gateway,
    KeyLists,
    OidcTokenVerifier,
    TokenVerifier,
    VerifiedTokenCache,
    WorkspaceModels,
)
from gateway.settings import GatewaySettings
from shared.access import install_telemetry
from shared.kafka import ensure_topics
from shared.metrics import ConsumerLag, new_registry
from shared.tracing import trace_app
from shared.web import BodySizeLimit, install_problem_handlers, internal_client, problem_response

DESCRIPTION = """The public HTTP API of FlowTrux AI Providers, for the UI.

Every route needs `Authorization: Bearer <JWT>`: in `prod` an access token of the
organization's OIDC provider (RS256/ES256; `iss`, `aud`, `exp` checked; organization and role
from the claims the settings name), in `dev` also an HS256 token with `sub`, `org_id`, `role`,
`exp`. `GET /auth/options` tells a browser how to sign in. A verified token that names no
organization or role the gateway accepts answers 403 `no_membership`. Settings (provider
keys, workspace changes, plan, usage, audit) need the OWNER role; any member may read
workspaces and their models and run test executions. Another organization's object answers
404 exactly as a missing one. Errors are `application/problem+json` with a machine-readable
`code`. The events are described by the AsyncAPI document at `/asyncapi`.
"""

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


def operation_id(route: APIRoute) -> str:
    """A stable camelCase operationId from the handler's name (`list_provider_keys` →
    `listProviderKeys`), which the UI's generated client is typed by."""
    head, *rest = route.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _verifier(settings: GatewaySettings, oidc: OidcProvider | None) -> TokenVerifier:
    dev = DevTokenVerifier(settings.gateway_jwt_secret.get_secret_value())
    if oidc is None:
        return dev
    verifier = OidcTokenVerifier(
        provider=oidc,
        audience=settings.oidc_audience(),
        mapping=ClaimMapping(
            org_claim=settings.gateway_oidc_org_claim,
            role_claim=settings.gateway_oidc_role_claim,
            org_prefix=settings.gateway_oidc_org_prefix,
            role_prefix=settings.gateway_oidc_role_prefix,
        ),
        leeway_s=settings.gateway_oidc_leeway_s,
    )
    if settings.flowtrux_env == "prod":  # prod: the provider's tokens only
        return verifier
    return EitherTokenVerifier(dev=dev, oidc=verifier)


def create_app(
    settings: GatewaySettings | None = None,
    *,
    bus: ExecutionBus | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    oidc_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The gateway app; `bus` and the transports replace Kafka and the network in unit
    tests (`oidc_transport`: the OIDC provider)."""
    settings = settings or GatewaySettings()
    settings.check_production()
    # Without a test transport, shared.web.internal_client's pool (aiohttp's) is used.
    extra: dict[str, Any] = {"transport": transport} if transport is not None else {}
    real_bus = bus is None
    the_bus: ExecutionBus = bus or KafkaExecutionBus(
        settings,
        settings.topics,
        timeout_s=settings.gateway_kafka_timeout_s,
    )
    # With the real bus, a workspace's models come from the compacted state topics; a test's
    # fake bus keeps the route on workspace's HTTP answer.
    view = WorkspaceModelsView()
    read_models = (
        StateReadModels(
            settings,
            settings.topics,
            view,
            timeout_s=settings.gateway_fence_timeout_s,
            start_wait_s=settings.gateway_kafka_timeout_s * 2,
        )
        if real_bus
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keyvault = internal_client(
            settings, caller="gateway", base_url=settings.keyvault_url, **extra
        )
        workspace = internal_client(
            settings, caller="gateway", base_url=settings.workspace_url, **extra
        )
        # The provider is reached with a client of its own: no service credential on it.
        oidc_client = (
            httpx.AsyncClient(
                transport=oidc_transport, timeout=httpx.Timeout(5.0), follow_redirects=False
            )
            if settings.oidc_enabled()
            else None
        )
        oidc = (
            OidcProvider(
                oidc_client,
                settings.gateway_oidc_issuer,
                min_refresh_s=settings.gateway_oidc_jwks_min_refresh_s,
                max_age_s=settings.gateway_oidc_jwks_max_age_s,
            )
            if oidc_client is not None
            else None
        )
        if real_bus:
            topics = settings.topics
            names = [
                topics.execution_requested,
                topics.execution_result,
                topics.assignments,
                topics.keys,
            ]
            if settings.flowtrux_env == "prod":  # a missing topic stops the gateway
                await ensure_topics(settings, topics, names=names, create=False)
            else:
                with contextlib.suppress(Exception):  # Kafka down: start anyway, answer 503
                    await ensure_topics(settings, topics, names=names)
        # Both connect in the background; a healthy broker is waited for once, not twice.
        await asyncio.gather(
            the_bus.start(), read_models.start() if read_models is not None else asyncio.sleep(0)
        )
        app.state.gateway = Gateway(
            settings=settings,
            keyvault=Upstream("keyvault", keyvault),
            workspace=Upstream("workspace", workspace),
            bus=the_bus,
            verifier=VerifiedTokenCache(_verifier(settings, oidc)),
            oidc=oidc,
            models=WorkspaceModels(view, read_models) if read_models is not None else None,
            key_lists=(
                KeyLists(view, read_models, ttl_s=settings.gateway_key_list_ttl_s)
                if read_models is not None and settings.gateway_key_list_ttl_s > 0
                else None
            ),
        )
        try:
            yield
        finally:
            if oidc_client is not None:
                await oidc_client.aclose()
            await the_bus.stop()
            if read_models is not None:
                await read_models.stop()
            await keyvault.aclose()
            await workspace.aclose()

    app = FastAPI(
        title="FlowTrux AI Providers gateway",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        servers=[{"url": "/", "description": "This gateway (the UI's own origin)"}],
        generate_unique_id_function=operation_id,
    )
    trace_app(app, "gateway")
    install_problem_handlers(app)
    web = WebUI(settings.web_dir(), connect_origins=[o for o in [settings.oidc_origin()] if o])

    @app.exception_handler(StarletteHTTPException)
    async def _routing(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and web.serves(request):
            return web.response(request)
        response = problem_response(
            exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail)
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    app.include_router(public_router(app))
    # The same liveness and readiness at the root, where orchestrators look for them.
    app.include_router(health.router(app, documented=False))

    asyncapi_doc = build_asyncapi(settings.topics)

    @app.get("/asyncapi", tags=["Documentation"], include_in_schema=False)
    async def asyncapi() -> dict[str, Any]:
        """The AsyncAPI document of the project's Kafka topics."""
        return asyncapi_doc

    install_openapi(app, plans=settings.plan_names())
    registry = new_registry()
    lag = ConsumerLag(registry)
    lag.watch("gateway-results", the_bus)
    app.state.read_models = read_models
    for reader in read_models.readers if read_models is not None else []:
        lag.watch(f"state-reader:{reader.topic}", reader)
    app.add_middleware(BodySizeLimit, max_bytes=settings.gateway_max_body_bytes)
    origins = settings.cors_origins()
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id", "Idempotency-Key"],
            expose_headers=["Retry-After", "Idempotent-Replayed", "X-Request-Id"],
            max_age=600,
        )
    # Behind the public Ingress: /metrics answers only Prometheus scraping the pod directly.
    install_telemetry(
        app, registry, before=[lag.refresh], direct_only=True, include_in_schema=False
    )
    return app
