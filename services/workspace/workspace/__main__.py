"""`python -m workspace`: serve the workspace service on 127.0.0.1:WORKSPACE_PORT."""

from __future__ import annotations

import uvicorn

from shared.logging import configure_logging
from workspace.app import create_app
from workspace.settings import WorkspaceSettings


def main() -> None:
    settings = WorkspaceSettings()
    configure_logging("workspace", level=settings.log_level, fmt=settings.log_format)
    settings.check_production()
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.workspace_host,
        port=settings.workspace_port,
        log_config=None,
        timeout_graceful_shutdown=8,
    )


if __name__ == "__main__":
    main()
