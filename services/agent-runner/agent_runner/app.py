"""Wiring only: settings, clients, executor, consumer, and the health/metrics app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo import AsyncMongoClient

from agent_runner.consumer import RequestConsumer
from agent_runner.domain import DedupeStore
from agent_runner.executor import Executor
from agent_runner.keys import KeyvaultClient
from agent_runner.metrics import RunnerMetrics
from agent_runner.settings import RunnerSettings
from agent_runner.store import InMemoryDedupeStore, MongoDedupeStore
from shared.catalog import load_prices
from shared.http import direct_client, pooled_client
from shared.kafka import ensure_topics

log = logging.getLogger(__name__)


class Runner:
    """One runner: HTTP clients, dedupe store and Kafka consumer, started and stopped together."""

    def __init__(
        self, settings: RunnerSettings, *, store: DedupeStore | InMemoryDedupeStore | None = None
    ) -> None:
        self.settings = settings
        self.metrics = RunnerMetrics()
        self._store_given = store is not None
        self._mongo: AsyncMongoClient[dict[str, Any]] | None = None
        if store is None:
            self._mongo = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
            store = MongoDedupeStore(self._mongo, settings.runner_db)
        self.store = store
        # httpx on aiohttp's pool (shared/http.py): httpx's own pool costs milliseconds of CPU
        # per request with hundreds in flight. One TLS context for both (~30 ms to build).
        tls = httpx.create_ssl_context()
        self.providers_http = direct_client(
            max_connections=settings.runner_max_connections,
            timeout=httpx.Timeout(
                settings.runner_provider_timeout_s,
                connect=settings.runner_provider_connect_timeout_s,
            ),
            verify=tls,
        )
        token = settings.service_token_agent_runner.get_secret_value()
        self.keyvault_http = pooled_client(
            max_connections=settings.runner_concurrency,
            timeout=httpx.Timeout(settings.internal_http_timeout_s),
            verify=tls,
            base_url=settings.keyvault_url,
            headers={"Authorization": f"Bearer {token}"},
        )
        self.keyvault = KeyvaultClient(
            self.keyvault_http,
            retries=settings.runner_keyvault_retries,
            backoff_base=settings.runner_backoff_base_s,
            backoff_max=settings.runner_backoff_max_s,
            in_flight=settings.runner_keyvault_batches_in_flight,
        )
        self.executor = Executor(
            settings,
            http=self.providers_http,
            keyvault=self.keyvault,
            prices=load_prices(settings.model_prices_file),
            metrics=self.metrics,
        )
        self.consumer = RequestConsumer(
            settings, executor=self.executor, store=self.store, metrics=self.metrics
        )

    async def start(self) -> None:
        await ensure_topics(self.settings.kafka_bootstrap_servers, self.settings.topics)
        if isinstance(self.store, MongoDedupeStore):
            await self.store.open()
        await self.consumer.start()
        log.info(
            "agent-runner consuming %s with %d in flight",
            self.settings.topics.execution_requested,
            self.settings.runner_concurrency,
        )

    async def ready(self) -> bool:
        if not self.consumer.started.is_set():
            return False
        ping = getattr(self.store, "ping", None)
        return bool(await ping()) if ping is not None else True

    async def stop(self) -> None:
        try:
            await self.consumer.stop()
        finally:
            await self.keyvault.close()
            await self.providers_http.aclose()
            await self.keyvault_http.aclose()
            if self._mongo is not None:
                await self._mongo.close()


def create_app(
    settings: RunnerSettings | None = None, *, store: DedupeStore | None = None
) -> FastAPI:
    """The health/metrics app; its lifespan runs the runner."""
    settings = settings or RunnerSettings()
    settings.check_production()
    runner = Runner(settings, store=store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runner.start()
        try:
            yield
        finally:
            await runner.stop()

    app = FastAPI(title="agent-runner", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runner = runner

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict[str, str]:
        """200 when consuming and MongoDB answers; else 503."""
        if await runner.ready():
            return {"status": "ready"}
        response.status_code = 503
        return {"status": "not ready"}

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics."""
        runner.metrics.in_flight.set(runner.consumer.in_flight)
        return Response(generate_latest(runner.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
