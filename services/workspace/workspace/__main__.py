"""`python -m workspace`: serve the workspace service on 127.0.0.1:WORKSPACE_PORT.

python -m workspace republish   rebuild workspace.assignments.v1 and workspace.plans.v1
                                from the store (disaster recovery; docs/OPERATIONS.md)
`python -m workspace prune` drops ledger outputs past `LEDGER_OUTPUT_RETENTION_DAYS` now (the
service also does it every `LEDGER_PRUNE_INTERVAL_S`); `python -m workspace backfill-rollups`
counts ledger records written before daily rollups existed (safe to repeat);
`python -m workspace rekey-ledger` moves ledger records keyed by execution id alone (written
by replicas older than org-scoped ids, e.g. during a rolling upgrade) to their org-scoped
key (safe to repeat).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvicorn

from shared.kafka import ensure_topics
from shared.logging import configure_logging
from shared.plans import DEFAULT_PLAN, parse_plans
from workspace.app import create_app, run_maintenance
from workspace.domain import KeyDirectory, KeyInfo
from workspace.events import KafkaStatePublisher
from workspace.service import SharedCatalog, WorkspaceService
from workspace.settings import WorkspaceSettings
from workspace.store import MongoWorkspaceStore


class _NoConfirmer:
    """Republishing never confirms keys; nothing here may ask keyvault."""

    async def fetch_key(self, *, org_id: str, key_id: str) -> KeyInfo | None:
        raise RuntimeError("keyvault is not asked while republishing")


async def _republish(settings: WorkspaceSettings) -> int:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongodb_url.get_secret_value(), tz_aware=True, serverSelectionTimeoutMS=5000
    )
    publisher = KafkaStatePublisher(settings)
    try:
        store = MongoWorkspaceStore(
            client, settings.workspace_db, slot_grace_s=settings.workspace_slot_grace_s
        )
        await store.open()
        topics = settings.topics
        await ensure_topics(
            settings,
            topics,
            names=[topics.assignments, topics.plans],
            create=settings.flowtrux_env == "dev",
        )
        await publisher.start()
        svc = WorkspaceService(
            store=store,
            publisher=publisher,
            keys=KeyDirectory(),
            confirmer=_NoConfirmer(),
            catalog=SharedCatalog(),
            plans=parse_plans(settings.flowtrux_plans),
            default_plan=DEFAULT_PLAN,
        )
        orgs, workspaces = await svc.republish_all()
    finally:
        await publisher.stop()
        await client.close()
    print(
        f"republished {orgs} plans and {workspaces} workspaces to "
        f"{settings.topics.plans} and {settings.topics.assignments}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workspace")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "republish", "prune", "backfill-rollups", "rekey-ledger"],
    )
    args = parser.parse_args(argv)
    settings = WorkspaceSettings()
    configure_logging("workspace", level=settings.log_level, fmt=settings.log_format)
    settings.check_production()
    if args.command == "republish":
        return asyncio.run(_republish(settings))
    if args.command != "serve":
        count = asyncio.run(run_maintenance(settings, args.command))
        print(f"{args.command}: {count} record(s)")
        return 0
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.workspace_host,
        port=settings.workspace_port,
        log_config=None,
        timeout_graceful_shutdown=8,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
