"""`python -m keyvault` runs the service; `python -m keyvault rewrap` re-wraps data keys;
`python -m keyvault prune` deletes audit entries older than KEYVAULT_AUDIT_RETENTION_DAYS."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import uvicorn

from keyvault.app import create_app, run_prune
from keyvault.service import format_report, rewrap_all
from keyvault.service.envelope import KeyringError
from keyvault.settings import KeyvaultSettings
from keyvault.store import MongoKeyStore
from shared.logging import configure_logging
from shared.runtime import settle_garbage_collector
from shared.settings import ProductionSettingsError

log = logging.getLogger("keyvault")


async def _rewrap(settings: KeyvaultSettings) -> int:
    settings.check_production()
    keyring = settings.keyring()
    store = MongoKeyStore(settings.mongodb_url, settings.keyvault_db)
    await store.open()
    try:
        report = await rewrap_all(store, keyring)
    finally:
        await store.close()
    print(format_report(report, keyring))
    return 1 if report.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keyvault")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rewrap", "prune"])
    args = parser.parse_args(argv)
    settings = KeyvaultSettings()
    configure_logging("keyvault", level=settings.log_level, fmt=settings.log_format)
    try:
        if args.command == "rewrap":
            return asyncio.run(_rewrap(settings))
        if args.command == "prune":
            print(f"prune: {asyncio.run(run_prune(settings))} audit entries deleted")
            return 0
        settings.check_production()
        settings.keyring()
    except (ProductionSettingsError, KeyringError) as exc:
        log.error("keyvault refuses to start: %s", exc)
        return 2
    app = create_app(settings)
    settle_garbage_collector()  # everything is imported and built: freeze it
    uvicorn.run(
        app,
        host=settings.keyvault_host,
        port=settings.keyvault_port,
        log_config=None,
        timeout_graceful_shutdown=8,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
