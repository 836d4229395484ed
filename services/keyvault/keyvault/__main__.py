"""`python -m keyvault` runs the service. Operations (docs/OPERATIONS.md):

python -m keyvault rewrap                 re-wrap every data key under the active master key
python -m keyvault prune                  delete audit entries past KEYVAULT_AUDIT_RETENTION_DAYS
                                          and settled markers past KEYVAULT_SETTLED_RETENTION_DAYS
python -m keyvault republish              rebuild keyvault.keys.v1 from the store (DR)
python -m keyvault keyring new [--rotate] [--id ID]
                                          print a fresh master-key entry (stdout only)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime

import uvicorn

from keyvault.app import create_app, run_prune, run_prune_settled
from keyvault.domain import AssignmentsView, PlansView
from keyvault.events import KafkaKeyEvents
from keyvault.service import Vault, format_report, rewrap_all
from keyvault.service.envelope import (
    DEV_PREFIX,
    KeyringError,
    format_keyring,
    new_version_entry,
    parse_keyring,
    valid_version,
)
from keyvault.settings import KeyvaultSettings
from keyvault.store import MongoKeyStore
from shared.kafka import ensure_topics
from shared.logging import configure_logging
from shared.runtime import settle_garbage_collector
from shared.settings import ProductionSettingsError

log = logging.getLogger("keyvault")


async def _rewrap(settings: KeyvaultSettings) -> int:
    settings.check_production()
    keyring = settings.keyring()
    store = MongoKeyStore(settings.mongodb_url.get_secret_value(), settings.keyvault_db)
    await store.open()
    try:
        report = await rewrap_all(store, keyring)
    finally:
        await store.close()
    print(format_report(report, keyring))
    return 1 if report.failed else 0


async def _republish(settings: KeyvaultSettings) -> int:
    """Publish every stored key's current state to the keys topic again (idempotent)."""
    settings.check_production()
    store = MongoKeyStore(settings.mongodb_url.get_secret_value(), settings.keyvault_db)
    await store.open()
    topics = settings.topics
    await ensure_topics(
        settings, topics, names=[topics.keys], create=settings.flowtrux_env == "dev"
    )
    events = KafkaKeyEvents(settings, topics.keys)
    await events.start()
    try:
        vault = Vault(
            store=store,
            keyring=settings.keyring(),
            events=events,
            assignments=AssignmentsView(),
            plans=PlansView(None),
        )
        count = await vault.republish_all()
    finally:
        await events.stop()
        await store.close()
    print(f"republished {count} keys to {settings.topics.keys}")
    return 0


def _keyring_new(argv: list[str]) -> int:
    """Print a new keyring entry (or, with --rotate, the whole new keyring) to stdout only:
    the value is key material, so it is never logged."""
    parser = argparse.ArgumentParser(
        prog="python -m keyvault keyring new",
        description="Print a fresh master key as a KEYVAULT_MASTER_KEYS entry (id:base64key).",
    )
    parser.add_argument("--id", help="the entry's id (default: k<UTC date>-<random>)")
    parser.add_argument(
        "--rotate",
        action="store_true",
        help="print the new entry followed by the current KEYVAULT_MASTER_KEYS (new one active)",
    )
    args = parser.parse_args(argv)
    version, key = new_version_entry(f"k{datetime.now(UTC):%Y%m%d}-")
    if args.id is not None:
        version = args.id
    if not valid_version(version) or version.startswith(DEV_PREFIX):
        print(f"invalid id {version!r}: 1-64 of A-Z a-z 0-9 . _ - , not 'dev-'", file=sys.stderr)
        return 2
    entry = format_keyring([(version, key)])
    if args.rotate:
        current = KeyvaultSettings().keyvault_master_keys
        if current is None:
            print("--rotate needs the current KEYVAULT_MASTER_KEYS", file=sys.stderr)
            return 2
        existing = current.get_secret_value().strip()
        if version in parse_keyring(existing).versions():
            print(f"id {version!r} is already in the keyring", file=sys.stderr)
            return 2
        entry = f"{entry},{existing}"
    sys.stdout.write(entry + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["keyring", "new"]:
        return _keyring_new(argv[2:])
    parser = argparse.ArgumentParser(prog="python -m keyvault")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "rewrap", "republish", "prune"]
    )
    args = parser.parse_args(argv)
    settings = KeyvaultSettings()
    configure_logging("keyvault", level=settings.log_level, fmt=settings.log_format)
    try:
        if args.command == "rewrap":
            return asyncio.run(_rewrap(settings))
        if args.command == "republish":
            return asyncio.run(_republish(settings))
        if args.command == "prune":
            audit = asyncio.run(run_prune(settings))
            settled = asyncio.run(run_prune_settled(settings))
            print(f"prune: {audit} audit entries deleted, {settled} settled markers deleted")
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
