"""keyvault's own Prometheus series (the shared HTTP, process and Kafka lag series come from
shared.metrics): resolutions by outcome and the latency of audit writes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.metrics import LATENCY_BUCKETS

GRANTED = "granted"


class KeyvaultMetrics:
    """`flowtrux_keyvault_resolutions_total{outcome}` (`granted` or the refusal's code, e.g.
    `key_unavailable`) and `flowtrux_keyvault_audit_write_seconds` (one group commit)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.resolutions = Counter(
            "flowtrux_keyvault_resolutions",
            "Key resolutions for the runners, by outcome (granted or the refusal code).",
            ["outcome"],
            registry=registry,
        )
        self.audit_write = Histogram(
            "flowtrux_keyvault_audit_write_seconds",
            "Time to store one group-committed batch of audit entries.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def resolved(self, outcome: str) -> None:
        self.resolutions.labels(outcome).inc()
