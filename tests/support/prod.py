"""Settings values that pass FLOWTRUX_ENV=prod's checks (tests of prod behaviour use them)."""

from __future__ import annotations

from typing import Any

PROD_KAFKA: dict[str, Any] = {
    "kafka_security_protocol": "SASL_PLAINTEXT",
    "kafka_sasl_username": "svc",
    "kafka_sasl_password": "prod-kafka-password",
}
PROD_TOKENS: dict[str, Any] = {
    f"service_token_{n}": f"prod-{n}-token-0123456789abcdef0123456789abcdef"
    for n in ("gateway", "keyvault", "workspace", "agent_runner")
}
PROD_VALUES: dict[str, Any] = {**PROD_KAFKA, **PROD_TOKENS}
