"""`python -m gateway` serves the API; `python -m gateway token ...` prints a dev JWT;
`python -m gateway openapi` prints the OpenAPI document (the UI's client is generated from it)."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from gateway.domain import Role
from gateway.service import issue_token
from gateway.settings import GatewaySettings
from shared.contracts import is_identifier


def _token(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway token", description="Print a dev JWT.")
    parser.add_argument("--org", required=True, help="organization id (claim org_id)")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--sub", default="dev-user", help="user id (claim sub)")
    parser.add_argument("--platform-admin", action="store_true", help="add platform_admin: true")
    parser.add_argument("--ttl-hours", type=float, default=12.0, help="lifetime in hours")
    args = parser.parse_args(argv)
    if not is_identifier(args.org):
        parser.error("--org must be letters, digits and ._:@- (at most 128)")
    if args.ttl_hours <= 0:
        parser.error("--ttl-hours must be positive")
    settings = GatewaySettings()
    print(
        issue_token(
            settings.gateway_jwt_secret.get_secret_value(),
            org_id=args.org,
            role=args.role,
            sub=args.sub,
            platform_admin=args.platform_admin,
            ttl=timedelta(hours=args.ttl_hours),
        )
    )
    return 0


def _openapi() -> int:
    import json

    from gateway.app import create_app

    # The plan table is the documented default, so the document does not depend on the
    # environment it is generated in.
    settings = GatewaySettings(flowtrux_plans=None, flowtrux_env="dev")
    print(json.dumps(create_app(settings).openapi(), indent=2, ensure_ascii=False, sort_keys=True))
    return 0


def _serve() -> int:
    import uvicorn

    from gateway.app import create_app
    from shared.logging import configure_logging
    from shared.runtime import settle_garbage_collector

    settings = GatewaySettings()
    configure_logging("gateway", level=settings.log_level, fmt=settings.log_format)
    app = create_app(settings)
    settle_garbage_collector()  # everything is imported and built: freeze it
    uvicorn.run(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        timeout_graceful_shutdown=8,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "token":
        return _token(argv[1:])
    if argv and argv[0] == "openapi":
        return _openapi()
    return _serve()


if __name__ == "__main__":
    raise SystemExit(main())
