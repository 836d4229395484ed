"""`python -m deploy.local.simulator`: the provider simulator on 127.0.0.1:SIM_PORT."""

from __future__ import annotations

import logging

import uvicorn
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.local.simulator.app import create_app
from shared.logging import configure_logging


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    sim_host: str = "127.0.0.1"
    sim_port: int = 8090
    sim_latency_ms: int = 0
    sim_latency_jitter_ms: int = 0  # a uniform random 0..this many ms more per call
    log_level: str = "INFO"


def main() -> None:
    settings = SimulatorSettings()
    configure_logging("provider-simulator", level=settings.log_level)
    logging.getLogger(__name__).info(
        "provider simulator on %s:%d, latency %d ms + random 0-%d ms",
        settings.sim_host,
        settings.sim_port,
        settings.sim_latency_ms,
        settings.sim_latency_jitter_ms,
    )
    uvicorn.run(
        create_app(latency_ms=settings.sim_latency_ms, jitter_ms=settings.sim_latency_jitter_ms),
        host=settings.sim_host,
        port=settings.sim_port,
        log_config=None,
        access_log=False,
        backlog=4096,
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
