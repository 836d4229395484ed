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

from keyvault.api import create_router
from keyvault.clients import HttpKeyVerifier, HttpWorkspaceDirectory
from keyvault.domain import (
    AssignmentsView,
    KeyStore,
    KeyvaultError,
    KeyVerifier,
    PlansView,
    WorkspaceDirectory,
)
from keyvault.events import KafkaKeyEvents, assignments_reader, plans_reader
from keyvault.service import Vault
from keyvault.settings import KeyvaultSettings
from keyvault.store import MongoKeyStore
from shared.contracts import utcnow
from shared.kafka import ensure_topics
from shared.mongo import is_transient
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


async def prune_audit(
    store: KeyStore, settings: KeyvaultSettings, *, now: datetime | None = None
) -> int:
    """Delete audit entries older than `KEYVAULT_AUDIT_RETENTION_DAYS`; how many."""
    before = (now or utcnow()) - timedelta(days=settings.keyvault_audit_retention_days)
    pruned = await store.prune_audit(before=before)
    if pruned:
        log.info("pruned %d audit entries older than the retention", pruned)
    return pruned


async def run_prune(settings: KeyvaultSettings, *, now: datetime | None = None) -> int:
    """`python -m keyvault prune`: what the service does every `KEYVAULT_PRUNE_INTERVAL_S`."""
    store = MongoKeyStore(settings.mongodb_url, settings.keyvault_db)
    await store.open()
    try:
        return await prune_audit(store, settings, now=now)
    finally:
        await store.close()


async def _prune_loop(store: KeyStore, settings: KeyvaultSettings) -> None:
    while True:
        try:
            await prune_audit(store, settings)
        except Exception as exc:
            log.warning("audit pruning failed: %s", type(exc).__name__)
        await asyncio.sleep(settings.keyvault_prune_interval_s)


def create_app(
    settings: KeyvaultSettings | None = None,
    *,
    store: KeyStore | None = None,
    verifier: KeyVerifier | None = None,
    directory: WorkspaceDirectory | None = None,
) -> FastAPI:
    """The keyvault ASGI app; everything starts in its lifespan, nothing at import time."""
    settings = settings or KeyvaultSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.check_production()
        keyring = settings.keyring()
        key_store: KeyStore = store or MongoKeyStore(
            settings.mongodb_url,
            settings.keyvault_db,
            retries=settings.keyvault_store_retries,
            slot_grace_s=settings.keyvault_slot_grace_s,
        )
        await key_store.open()
        topics = settings.topics
        await ensure_topics(settings.kafka_bootstrap_servers, topics)
        events = KafkaKeyEvents(settings.kafka_bootstrap_servers, topics.keys)
        await events.start()
        assignments = AssignmentsView()
        plans = PlansView(settings.default_plan_limit())
        readers = [
            assignments_reader(settings.kafka_bootstrap_servers, topics.assignments, assignments),
            plans_reader(settings.kafka_bootstrap_servers, topics.plans, plans),
        ]
        for reader in readers:
            await reader.start()
        owned_verifier = None
        if verifier is None:
            owned_verifier = HttpKeyVerifier(settings, timeout_s=settings.keyvault_verify_timeout_s)
        owned_directory = None
        if directory is None:
            owned_directory = HttpWorkspaceDirectory(
                internal_client(settings, caller="keyvault", base_url=settings.workspace_url)
            )
        vault = Vault(
            store=key_store,
            keyring=keyring,
            events=events,
            assignments=assignments,
            plans=plans,
            directory=directory or owned_directory,
            verifier=verifier or owned_verifier,
            last_used_interval_s=settings.keyvault_last_used_interval_s,
        )
        app.state.vault = vault

        async def readiness() -> dict[str, bool]:
            checks = {"read_models": all(r.caught_up.is_set() for r in readers)}
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
        pruning = asyncio.create_task(_prune_loop(key_store, settings), name="keyvault-prune")
        log.info("keyvault ready", extra={"event": "started"})
        try:
            yield
        finally:
            for task in (outbox, pruning):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await vault.drain()
            for reader in readers:
                await reader.stop()
            await events.stop()
            if owned_verifier is not None:
                await owned_verifier.close()
            if owned_directory is not None:
                await owned_directory.close()
            if store is None:
                await key_store.close()

    app = FastAPI(title="FlowTrux keyvault (internal)", version="1", lifespan=lifespan)
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
    app.include_router(create_router(settings))
    return app
