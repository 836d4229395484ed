"""Wiring only: settings, clients, store, service, Kafka consumer, and the health/metrics app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
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
from shared.access import install_telemetry
from shared.catalog import load_prices
from shared.contracts import utcnow
from shared.http import direct_client, pooled_client
from shared.kafka import ensure_topics
from shared.tracing import trace_app

log = logging.getLogger(__name__)


async def run_prune(settings: RunnerSettings, *, now: datetime | None = None) -> int:
    """Delete stored results (and their claims) older than `RUNNER_RESULT_RETENTION_S`;
    `python -m agent_runner prune`, and what every runner does each `RUNNER_PRUNE_INTERVAL_S`."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url.get_secret_value(), tz_aware=True
    )
    store = MongoDedupeStore(client, settings.runner_db)
    try:
        return await prune_once(store, settings, now=now)
    finally:
        await store.close()


async def prune_once(
    store: MongoDedupeStore, settings: RunnerSettings, *, now: datetime | None = None
) -> int:
    retention = timedelta(seconds=settings.runner_result_retention_s)
    pruned = await store.prune(before=(now or utcnow()) - retention)
    if pruned:
        log.info("pruned %d stored result(s) older than the retention", pruned)
    return pruned


async def _prune_every(store: MongoDedupeStore, settings: RunnerSettings) -> None:
    while True:
        try:
            await prune_once(store, settings)
        except Exception:
            log.exception("pruning the dedupe records failed; next try in an interval")
        await asyncio.sleep(settings.runner_prune_interval_s)


class Runner:
    """One runner: HTTP clients, dedupe store and Kafka consumer, started and stopped together."""

    def __init__(self, settings: RunnerSettings, *, store: DedupeStore | None = None) -> None:
        self.settings = settings
        self.metrics = RunnerMetrics()
        if store is None:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                settings.mongodb_url.get_secret_value(), tz_aware=True
            )
            store = MongoDedupeStore(
                client,
                settings.runner_db,
                owner=settings.runner_instance_id,
                lease_s=settings.runner_claim_lease_s,
                poll_s=settings.runner_claim_poll_s,
            )
        self.store = store
        # Only the real store prunes (every runner: deletes are idempotent, so no leader).
        self.pruner = store if isinstance(store, MongoDedupeStore) else None
        self.prune_task: asyncio.Task[None] | None = None
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
        topics = self.settings.topics
        await ensure_topics(
            self.settings,
            topics,
            names=[
                topics.execution_requested,
                topics.execution_result,
                topics.execution_requested_dlq,
            ],
            create=self.settings.flowtrux_env == "dev",
        )
        await self.store.open()
        await self.publisher.start()
        await self.consumer.start()
        if self.pruner is not None:
            self.prune_task = asyncio.create_task(_prune_every(self.pruner, self.settings))
        log.info(
            "agent-runner consuming %s with %d in flight",
            self.settings.topics.execution_requested,
            self.settings.runner_concurrency,
        )

    async def checks(self) -> dict[str, bool]:
        """Readiness: consuming, and the store answers."""
        return {"consumer": self.consumer.started.is_set(), "store": await self.store.ping()}

    async def stop(self) -> None:
        if self.prune_task is not None:
            self.prune_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.prune_task
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
    trace_app(app, "agent-runner")
    app.state.runner = runner
    app.include_router(health_router(checks=runner.checks))

    def in_flight() -> None:
        runner.metrics.in_flight.set(runner.consumer.in_flight)

    install_telemetry(app, runner.metrics.registry, before=[in_flight])
    return app
