"""Wiring only: builds stores, services, Kafka readers/subscribers and the HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from prometheus_client import Histogram
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from shared.access import install_telemetry
from shared.catalog import cost_usd, load_prices
from shared.contracts import utcnow
from shared.kafka import StateTopicReader, ensure_topics
from shared.metrics import LATENCY_BUCKETS, ConsumerLag, new_registry
from shared.mongo import is_transient
from shared.plans import DEFAULT_PLAN, parse_plans
from shared.tracing import trace_app
from shared.web import (
    BodySizeLimit,
    health_router,
    install_problem_handlers,
    internal_client,
    problem_response,
)
from workspace.api import build_router
from workspace.clients import HttpKeyConfirmer
from workspace.domain import (
    STORE_BUSY,
    KeyConfirmer,
    KeyDirectory,
    LedgerStore,
    RunBoundsStore,
    StatePublisher,
    WorkspaceError,
    WorkspaceStore,
)
from workspace.events import KafkaStatePublisher, keys_reader, ledger_broker
from workspace.service import Ledger, RunBounds, SharedCatalog, WorkspaceService
from workspace.settings import WorkspaceSettings
from workspace.store import MongoLedgerStore, MongoRunBoundsStore, MongoWorkspaceStore

log = logging.getLogger(__name__)

# Requests are small JSON documents; the largest is a gateway's batch of test-run results
# (it sends at most half of this per call, and a larger single result alone).
WORKSPACE_MAX_BODY = 1024 * 1024


async def _every(seconds: float, job: Callable[[], Awaitable[Any]], name: str) -> None:
    while True:
        try:
            await job()
        except Exception:
            log.exception("periodic job %s failed", name)
        await asyncio.sleep(seconds)


async def run_maintenance(
    settings: WorkspaceSettings, command: str, *, now: datetime | None = None
) -> int:
    """`prune` (drop ledger outputs past their retention, as the hourly job does),
    `backfill-rollups` (count records from before daily rollups; safe to repeat) or
    `rekey-ledger` (move records keyed by execution id alone to org-scoped keys, after a
    rolling upgrade; safe to repeat) against the configured database; returns how many
    records it touched."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url.get_secret_value(), tz_aware=True, serverSelectionTimeoutMS=5000
    )
    try:
        store = MongoLedgerStore(client, settings.workspace_db)
        await store.open()
        if command == "prune":
            return await store.prune_outputs(now=now or utcnow())
        if command == "backfill-rollups":
            return await store.backfill_rollups()
        if command == "rekey-ledger":
            return await store.rekey()
        raise ValueError(f"unknown command {command!r}")
    finally:
        await client.close()


def create_app(
    settings: WorkspaceSettings | None = None,
    *,
    store: WorkspaceStore | None = None,
    ledger_store: LedgerStore | None = None,
    bounds_store: RunBoundsStore | None = None,
    publisher: StatePublisher | None = None,
    confirmer: KeyConfirmer | None = None,
    kafka: bool = True,
) -> FastAPI:
    """The workspace service. Without `kafka`, a `publisher` must be given (unit tests)."""
    settings = settings or WorkspaceSettings()
    settings.check_production()
    if not kafka and publisher is None:
        raise ValueError("without Kafka a publisher must be given")
    plans = parse_plans(settings.flowtrux_plans)
    prices = load_prices(settings.model_prices_file)
    catalog = SharedCatalog()
    registry = new_registry()
    lag = ConsumerLag(registry)
    ingest_lag = Histogram(
        "flowtrux_workspace_ledger_ingest_lag_seconds",
        "From a result's occurred_at to its write into the usage ledger.",
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            client: AsyncMongoClient[dict[str, Any]] | None = None
            ws_store, led_store, run_store = store, ledger_store, bounds_store
            if ws_store is None or led_store is None or run_store is None:
                client = AsyncMongoClient(
                    settings.mongodb_url.get_secret_value(),
                    tz_aware=True,
                    serverSelectionTimeoutMS=5000,
                )
                stack.push_async_callback(client.close)
                if ws_store is None:
                    mongo_ws = MongoWorkspaceStore(
                        client, settings.workspace_db, slot_grace_s=settings.workspace_slot_grace_s
                    )
                    await mongo_ws.open()
                    ws_store = mongo_ws
                if led_store is None:
                    mongo_led = MongoLedgerStore(client, settings.workspace_db)
                    await mongo_led.open()
                    led_store = mongo_led
                if run_store is None:
                    mongo_runs = MongoRunBoundsStore(client, settings.workspace_db)
                    await mongo_runs.open()
                    run_store = mongo_runs
            http = internal_client(settings, caller="workspace", base_url=settings.keyvault_url)
            stack.push_async_callback(http.aclose)

            kafka_publisher: KafkaStatePublisher | None = None
            state_publisher = publisher
            if kafka:
                topics = settings.topics
                await ensure_topics(
                    settings,
                    topics,
                    names=[
                        topics.assignments,
                        topics.plans,
                        topics.keys,
                        topics.execution_requested,
                        topics.execution_result,
                    ],
                    create=settings.flowtrux_env == "dev",
                )
                if state_publisher is None:
                    kafka_publisher = KafkaStatePublisher(settings)
                    await kafka_publisher.start()
                    stack.push_async_callback(kafka_publisher.stop)
                    state_publisher = kafka_publisher
            assert state_publisher is not None  # noqa: S101 - guaranteed above

            keys = KeyDirectory()
            svc = WorkspaceService(
                store=ws_store,
                publisher=state_publisher,
                keys=keys,
                confirmer=confirmer or HttpKeyConfirmer(http),
                catalog=catalog,
                plans=plans,
                default_plan=DEFAULT_PLAN,
            )
            led = Ledger(
                store=led_store,
                catalog=catalog,
                output_retention=timedelta(days=settings.ledger_output_retention_days),
                price_of=lambda model, i, o: cost_usd(prices, model, i, o),
            )
            app.state.workspaces, app.state.ledger, app.state.keys = svc, led, keys
            app.state.run_bounds = bounds = RunBounds(
                store=run_store,
                workspaces=svc,
                rate_limit=settings.test_run_rate_limit,
                window_s=settings.test_run_rate_window_s,
                idempotency_ttl=timedelta(hours=settings.idempotency_ttl_h),
            )

            reader: StateTopicReader | None = None
            broker: KafkaBroker | None = None
            if kafka:
                reader = keys_reader(settings, svc)
                await reader.start()
                stack.push_async_callback(reader.stop)
                lag.watch(f"state-reader:{reader.topic}", reader)
                broker = ledger_broker(settings, led, ingest_lag=ingest_lag.observe)
                await broker.start()
                stack.push_async_callback(broker.stop)
                for sub in broker.subscribers:
                    lag.watch(settings.ledger_group, sub)
            app.state.keys_reader = reader

            async def ready() -> dict[str, bool]:
                checks = {"mongodb": True, "kafka": True, "keys_read_model": True}
                if client is not None:
                    try:
                        await asyncio.wait_for(client.admin.command("ping"), 2)
                    except Exception:
                        checks["mongodb"] = False
                if kafka_publisher is not None:
                    try:
                        await asyncio.wait_for(
                            kafka_publisher.producer.partitions_for(settings.topics.assignments),
                            2,
                        )
                    except Exception:
                        checks["kafka"] = False
                if reader is not None:
                    checks["keys_read_model"] = reader.caught_up.is_set()
                return checks

            app.state.ready = ready
            jobs = [
                asyncio.create_task(
                    _every(settings.republish_interval_s, svc.retry_pending, "republish")
                ),
                asyncio.create_task(
                    _every(settings.ledger_prune_interval_s, led.prune_outputs, "prune")
                ),
                asyncio.create_task(
                    _every(settings.ledger_prune_interval_s, bounds.prune, "prune test runs")
                ),
            ]
            try:
                yield
            finally:
                for job in jobs:
                    job.cancel()
                await asyncio.gather(*jobs, return_exceptions=True)

    app = FastAPI(title="FlowTrux workspace (internal)", version="1", lifespan=lifespan)
    trace_app(app, "workspace")

    async def ready() -> dict[str, bool]:
        check: Callable[[], Awaitable[dict[str, bool]]] | None = getattr(app.state, "ready", None)
        return await check() if check else {"started": False}

    install_problem_handlers(app, WorkspaceError)

    @app.exception_handler(PyMongoError)
    async def _store_error(_: Request, exc: PyMongoError) -> JSONResponse:
        # A busy or reconnecting store is worth a retry by the caller; never a 500 for that.
        if is_transient(exc):
            log.warning("store unavailable: %s", type(exc).__name__)
            response = problem_response(503, "store_unavailable", STORE_BUSY)
            response.headers["Retry-After"] = "1"
            return response
        log.error("unhandled store error: %s", type(exc).__name__)
        return problem_response(500, "internal_error", "An internal error occurred.")

    app.add_middleware(BodySizeLimit, max_bytes=WORKSPACE_MAX_BODY)
    app.include_router(health_router(ready))
    app.include_router(build_router(settings))
    install_telemetry(app, registry, before=[lag.refresh])
    return app
