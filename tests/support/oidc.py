"""A real OIDC provider for tests: Dex, started and stopped by deploy/local/dex.sh.

Ports come from FLOWTRUX_DEX_PORT_BASE (19300; `make dev`'s Dex uses the base itself, the
tests base+1 onwards). The users and clients are those of deploy/local/dex.sh.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.e2e import ROOT

DEX_PORT_BASE = int(os.environ.get("FLOWTRUX_DEX_PORT_BASE", "19300"))
SCRIPT = ROOT / "deploy" / "local" / "dex.sh"
PASSWORD = "password"  # the static test users' documented password
CLIENT_ID = "flowtrux-ui"

# How the gateway reads organization and role from Dex's tokens (Dex's static users carry
# only groups): the settings deploy/local/dex.sh documents.
GROUP_MAPPING: dict[str, Any] = {
    "gateway_oidc_client_id": CLIENT_ID,
    "gateway_oidc_scopes": "openid email groups",
    "gateway_oidc_org_claim": "groups",
    "gateway_oidc_org_prefix": "org:",
    "gateway_oidc_role_claim": "groups",
    "gateway_oidc_role_prefix": "role:",
}


@dataclass(frozen=True)
class Dex:
    port: int

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/dex"

    def password_token(self, email: str, *, client_id: str = CLIENT_ID) -> str:
        """An access token from the provider (resource-owner password grant)."""
        response = httpx.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "password",
                "client_id": client_id,
                "username": email,
                "password": PASSWORD,
                "scope": "openid email groups",
            },
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def jwks(self) -> dict[str, Any]:
        keys: dict[str, Any] = httpx.get(f"{self.issuer}/keys", timeout=10).json()
        return keys


@contextlib.contextmanager
def dex(
    offset: int, *, redirect_uris: list[str] | None = None, lifetime: str = "1h"
) -> Iterator[Dex]:
    """Dex on 127.0.0.1:<FLOWTRUX_DEX_PORT_BASE + offset>, stopped afterwards."""
    port = DEX_PORT_BASE + offset
    env = {
        **os.environ,
        "DEX_PORT": str(port),
        "DEX_INSTANCE": f"test-{offset}-{secrets.token_hex(3)}",
        "DEX_TOKEN_TTL": lifetime,
    }
    if redirect_uris:
        env["DEX_REDIRECT_URIS"] = ",".join(redirect_uris)
    started = subprocess.run(
        [str(SCRIPT), "up"], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if started.returncode != 0:
        message = f"Dex did not start: {started.stderr.strip()[-2000:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield Dex(port=port)
    finally:
        subprocess.run([str(SCRIPT), "down"], env=env, capture_output=True, timeout=60, check=False)
