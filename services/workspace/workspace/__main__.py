"""`python -m workspace`: serve the workspace service on 127.0.0.1:WORKSPACE_PORT.

`python -m workspace prune` drops ledger outputs past `LEDGER_OUTPUT_RETENTION_DAYS` now (the
service also does it every `LEDGER_PRUNE_INTERVAL_S`); `python -m workspace backfill-rollups`
counts ledger records written before daily rollups existed (safe to repeat).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvicorn

from shared.logging import configure_logging
from workspace.app import create_app, run_maintenance
from workspace.settings import WorkspaceSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workspace")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "prune", "backfill-rollups"]
    )
    args = parser.parse_args(argv)
    settings = WorkspaceSettings()
    configure_logging("workspace", level=settings.log_level, fmt=settings.log_format)
    settings.check_production()
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
