"""Wiring only: settings, clients, store, service, Kafka consumer, and the health/metrics app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from agent_runner.api import health_router
from agent_runner.clients.keyvault import KeyvaultClient
from agent_runner.domain import DedupeStore
from agent_runner.events import CommitPolicy, DeadLetter, KafkaPublisher, RequestConsumer
from agent_runner.service import ExecutionHandler, Executor, RunnerMetrics
from agent_runner.settings import RunnerSettings
from agent_runner.store import MongoDedupeStore
from shared.catalog import load_prices
from shared.http import direct_client, pooled_client
from shared.kafka import ensure_topics

log = logging.getLogger(__name__)


class Runner:
    """One runner: HTTP clients, dedupe store and Kafka consumer, started and stopped together."""

    def __init__(self, settings: RunnerSettings, *, store: DedupeStore | None = None) -> None:
        self.settings = settings
        self.metrics = RunnerMetrics()
        if store is None:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                settings.mongodb_url, tz_aware=True
            )
            store = MongoDedupeStore(
                client,
                settings.runner_db,
                owner=settings.runner_instance_id,
                lease_s=settings.runner_claim_lease_s,
                poll_s=settings.runner_claim_poll_s,
            )
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
            wait_s=settings.runner_key_wait_s,
            wait_backoff_max_s=settings.runner_key_wait_backoff_max_s,
            on_wait=self.metrics.key_waits.inc,
        )
        self.publisher = KafkaPublisher(settings)
        executor = Executor(
            settings,
            http=self.providers_http,
            keyvault=self.keyvault,
            prices=load_prices(settings.model_prices_file),
            metrics=self.metrics,
        )
        self.handler = handler = ExecutionHandler(
            executor=executor, store=self.store, publisher=self.publisher, metrics=self.metrics
        )
        self.consumer = RequestConsumer(
            settings,
            handler=handler,
            dead_letter=DeadLetter(
                self.publisher, topic=settings.topics.execution_requested_dlq, metrics=self.metrics
            ),
            commits=CommitPolicy(
                interval_s=settings.runner_commit_interval_s, metrics=self.metrics
            ),
            metrics=self.metrics,
        )

    async def start(self) -> None:
        await ensure_topics(self.settings.kafka_bootstrap_servers, self.settings.topics)
        await self.store.open()
        await self.publisher.start()
        await self.consumer.start()
        log.info(
            "agent-runner consuming %s with %d in flight",
            self.settings.topics.execution_requested,
            self.settings.runner_concurrency,
        )

    async def checks(self) -> dict[str, bool]:
        """Readiness: consuming, and the store answers."""
        return {"consumer": self.consumer.started.is_set(), "store": await self.store.ping()}

    async def stop(self) -> None:
        try:
            await self.consumer.stop()
        finally:
            await self.publisher.stop()
            await self.keyvault.close()
            await self.providers_http.aclose()
            await self.keyvault_http.aclose()
            await self.store.close()


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
    app.include_router(
        health_router(
            checks=runner.checks,
            metrics=runner.metrics,
            in_flight=lambda: runner.consumer.in_flight,
        )
    )
    return app
