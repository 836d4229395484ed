"""Wiring only: builds the keyvault service from its settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

from keyvault.api import KeyvaultMetrics, create_router
from keyvault.clients import HttpKeyVerifier, HttpWorkspaceDirectory
from keyvault.domain import (
    AssignmentsView,
    KeyStore,
    KeyvaultError,
    KeyVerifier,
    PlansView,
    WorkspaceDirectory,
)
from keyvault.domain.ports import BudgetStore
from keyvault.events import (
    FencedReadModels,
    KafkaKeyEvents,
    assignments_reader,
    plans_reader,
    spend_broker,
)
from keyvault.service import Vault
from keyvault.service.budgets import BudgetGuard
from keyvault.settings import KeyvaultSettings
from keyvault.store import MongoBudgetStore, MongoKeyStore
from shared.access import install_telemetry
from shared.contracts import utcnow
from shared.kafka import ReadFence, ensure_topics
from shared.metrics import ConsumerLag, new_registry
from shared.mongo import is_transient
from shared.tracing import trace_app
from shared.web import (
    BodySizeLimit,
    health_router,
    install_problem_handlers,
    internal_client,
    problem_response,
)

log = logging.getLogger(__name__)


async def _outbox_loop(vault: Vault, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await vault.flush_outbox()
        except Exception as exc:
            log.warning("outbox flush failed: %s", type(exc).__name__)


async def _budget_loop(guard: BudgetGuard, interval: float) -> None:
    """Release holds whose result never came, alert keys expiring within 7 days, publish
    alerts not yet on Kafka."""
    while True:
        try:
            await guard.check_expiring()
            await guard.flush_alerts()
        except Exception as exc:
            log.warning("budget check failed: %s", type(exc).__name__)
        await asyncio.sleep(interval)


async def prune_audit(
    store: KeyStore, settings: KeyvaultSettings, *, now: datetime | None = None
) -> int:
    """Delete audit entries older than `KEYVAULT_AUDIT_RETENTION_DAYS`; how many."""
    before = (now or utcnow()) - timedelta(days=settings.keyvault_audit_retention_days)
    pruned = await store.prune_audit(before=before)
    if pruned:
        log.info("pruned %d audit entries older than the retention", pruned)
    return pruned


async def prune_settled(
    budgets: BudgetStore, settings: KeyvaultSettings, *, now: datetime | None = None
) -> int:
    """Delete settled markers older than `KEYVAULT_SETTLED_RETENTION_DAYS`; how many."""
    before = (now or utcnow()) - timedelta(days=settings.keyvault_settled_retention_days)
    pruned = await budgets.prune_settled(before=before)
    if pruned:
        log.info("pruned %d settled markers older than the retention", pruned)
    return pruned


async def run_prune_settled(settings: KeyvaultSettings, *, now: datetime | None = None) -> int:
    """`python -m keyvault prune`, its second half: the settled markers."""
    budgets = MongoBudgetStore(settings.mongodb_url.get_secret_value(), settings.keyvault_db)
    await budgets.open()
    try:
        return await prune_settled(budgets, settings, now=now)
    finally:
        await budgets.close()


async def run_prune(settings: KeyvaultSettings, *, now: datetime | None = None) -> int:
    """`python -m keyvault prune`: what the service does every `KEYVAULT_PRUNE_INTERVAL_S`."""
    store = MongoKeyStore(settings.mongodb_url.get_secret_value(), settings.keyvault_db)
    await store.open()
    try:
        return await prune_audit(store, settings, now=now)
    finally:
        await store.close()


async def _prune_loop(store: KeyStore, budgets: BudgetStore, settings: KeyvaultSettings) -> None:
    while True:
        try:
            await prune_audit(store, settings)
        except Exception as exc:
            log.warning("audit pruning failed: %s", type(exc).__name__)
        try:
            await prune_settled(budgets, settings)
        except Exception as exc:
            log.warning("settled marker pruning failed: %s", type(exc).__name__)
        await asyncio.sleep(settings.keyvault_prune_interval_s)


def create_app(
    settings: KeyvaultSettings | None = None,
    *,
    store: KeyStore | None = None,
    verifier: KeyVerifier | None = None,
    directory: WorkspaceDirectory | None = None,
    budgets: BudgetStore | None = None,
) -> FastAPI:
    """The keyvault ASGI app; everything starts in its lifespan, nothing at import time."""
    settings = settings or KeyvaultSettings()
    registry = new_registry()
    metrics = KeyvaultMetrics(registry)
    lag = ConsumerLag(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.check_production()
        keyring = settings.keyring()
        key_store: KeyStore = store or MongoKeyStore(
            settings.mongodb_url.get_secret_value(),
            settings.keyvault_db,
            retries=settings.keyvault_store_retries,
            slot_grace_s=settings.keyvault_slot_grace_s,
        )
        await key_store.open()
        topics = settings.topics
        await ensure_topics(
            settings,
            topics,
            names=[topics.keys, topics.assignments, topics.plans, topics.alerts],
            create=settings.flowtrux_env == "dev",
        )
        events = KafkaKeyEvents(settings, topics.keys, topics.alerts)
        await events.start()
        assignments = AssignmentsView()
        plans = PlansView(settings.default_plan_limit())
        readers = [
            assignments_reader(settings, topics.assignments, assignments),
            plans_reader(settings, topics.plans, plans),
        ]
        for reader in readers:
            await reader.start()
            lag.watch(f"state-reader:{reader.topic}", reader)
        fence = ReadFence(settings, readers, timeout_s=settings.keyvault_fence_timeout_s)
        await fence.start()
        app.state.readers = readers
        owned_verifier = None
        if verifier is None:
            owned_verifier = HttpKeyVerifier(settings, timeout_s=settings.keyvault_verify_timeout_s)
        owned_directory = None
        if directory is None:
            owned_directory = HttpWorkspaceDirectory(
                internal_client(settings, caller="keyvault", base_url=settings.workspace_url)
            )
        budget_store: BudgetStore = budgets or MongoBudgetStore(
            settings.mongodb_url.get_secret_value(),
            settings.keyvault_db,
            retries=settings.keyvault_store_retries,
        )
        await budget_store.open()
        guard = BudgetGuard(
            store=budget_store,
            keys=key_store,
            assignments=assignments,
            alerts=events,
            hold_ttl_s=settings.keyvault_hold_ttl_s,
        )
        spend = spend_broker(
            settings,
            topics.execution_result,
            settings.keyvault_spend_group,
            guard,
        )
        # Joining the consumer group takes seconds (a rebalance); readiness does not wait for it:
        # until it has joined, holds simply stay held a little longer (conservative).
        spend_started = asyncio.create_task(spend.start(), name="keyvault-spend-start")
        vault = Vault(
            guard=guard,
            store=key_store,
            keyring=keyring,
            events=events,
            assignments=assignments,
            plans=plans,
            directory=directory or owned_directory,
            verifier=verifier or owned_verifier,
            freshness=FencedReadModels(fence),
            last_used_interval_s=settings.keyvault_last_used_interval_s,
            observe_audit_write=metrics.audit_write.observe,
        )
        app.state.vault = vault

        async def readiness() -> dict[str, bool]:
            # Ready only while every reader runs and is current (the same fence resolution
            # passes): a stalled or dead reader makes keyvault not ready, not wrong.
            checks = {"read_models": all(fence.status().values())}
            if checks["read_models"]:
                try:
                    await fence.check()
                except Exception:
                    checks["read_models"] = False
            for name, probe in (("mongodb", key_store.ping), ("kafka", events.ping)):
                try:
                    checks[name] = bool(await asyncio.wait_for(probe(), 3))
                except Exception:
                    checks[name] = False
            return checks

        app.state.readiness = readiness
        try:
            for reader in readers:
                await reader.wait_caught_up(settings.keyvault_ready_timeout_s)
        except TimeoutError:
            log.warning("read models not caught up yet; /readyz answers 503 until they are")
        await vault.flush_outbox()
        outbox = asyncio.create_task(
            _outbox_loop(vault, settings.keyvault_outbox_interval_s), name="keyvault-outbox"
        )
        budget_checks = asyncio.create_task(
            _budget_loop(guard, settings.keyvault_budget_check_interval_s), name="keyvault-budgets"
        )
        pruning = asyncio.create_task(
            _prune_loop(key_store, budget_store, settings), name="keyvault-prune"
        )
        log.info("keyvault ready", extra={"event": "started"})
        try:
            yield
        finally:
            for task in (outbox, budget_checks, pruning):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):
                await spend_started
            await spend.stop()
            await vault.drain()
            await fence.stop()
            for reader in readers:
                await reader.stop()
            await events.stop()
            if owned_verifier is not None:
                await owned_verifier.close()
            if owned_directory is not None:
                await owned_directory.close()
            if store is None:
                await key_store.close()
            if budgets is None:
                await budget_store.close()

    app = FastAPI(title="FlowTrux keyvault (internal)", version="1", lifespan=lifespan)
    trace_app(app, "keyvault")
    install_problem_handlers(app, KeyvaultError)

    @app.exception_handler(PyMongoError)
    async def _store_error(_: Request, exc: PyMongoError) -> JSONResponse:
        if is_transient(exc):  # busy/failover past the store's own retries: retryable
            log.warning("store unavailable: %s", type(exc).__name__)
            return problem_response(
                503, "store_unavailable", "keyvault's store is temporarily unavailable"
            )
        log.error("store error: %s", type(exc).__name__)
        return problem_response(500, "internal_error", "An internal error occurred.")

    app.add_middleware(BodySizeLimit, max_bytes=1024 * 1024)  # a full /resolve-batch fits
    app.include_router(health_router(lambda: app.state.readiness()))
    app.include_router(create_router(settings, metrics))
    install_telemetry(app, registry, before=[lag.refresh])
    return app
