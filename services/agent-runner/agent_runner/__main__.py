"""`python -m agent_runner`: one runner process; health and metrics on RUNNER_HEALTH_PORT.
`python -m agent_runner prune`: delete stored results older than RUNNER_RESULT_RETENTION_S now
(every runner also does it each RUNNER_PRUNE_INTERVAL_S).

SIGTERM (via uvicorn) stops fetching, finishes in-flight work within the grace period,
abandons the rest without committing it and exits within 30 s.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys

import uvicorn

from agent_runner.app import create_app, run_prune
from agent_runner.settings import RunnerSettings
from shared.logging import configure_logging
from shared.runtime import settle_garbage_collector

log = logging.getLogger("agent_runner")


def pick_port(host: str, first: int, tries: int = 100) -> int:
    """`first` if free, else the next free port after it."""
    for port in range(first, first + tries):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}..{first + tries - 1}")


def main() -> None:
    settings = RunnerSettings()
    configure_logging("agent-runner", level=settings.log_level, fmt=settings.log_format)
    settings.check_production()
    if sys.argv[1:] == ["prune"]:
        print(f"prune: {asyncio.run(run_prune(settings))} stored result(s) deleted")
        return
    host = settings.runner_health_host
    port = pick_port(host, settings.runner_health_port)
    if port != settings.runner_health_port:
        log.warning(
            "health port %d taken; serving health and metrics on %d",
            settings.runner_health_port,
            port,
        )
    else:
        log.info("serving health and metrics on %s:%d", host, port)
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; with these handlers
    # restored that re-raise is a no-op and a clean stop exits 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    app = create_app(settings)
    settle_garbage_collector()  # everything is imported and built: freeze it
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
