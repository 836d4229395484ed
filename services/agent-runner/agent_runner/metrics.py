"""Prometheus metrics of one runner (own registry, so several runners can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RunnerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.in_flight = Gauge(
            "runner_in_flight", "Executions in flight in this process.", registry=self.registry
        )
        self.executions = Counter(
            "runner_executions",
            "Results published, by status, provider and error code.",
            ["status", "provider", "code"],
            registry=self.registry,
        )
        self.provider_latency = Histogram(
            "runner_provider_latency_seconds",
            "Latency of provider HTTP calls, by provider and outcome.",
            ["provider", "outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "runner_consumer_lag",
            "Requests not yet committed on the assigned partitions (high-water minus commit).",
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "runner_dead_lettered", "Requests sent to the DLQ.", registry=self.registry
        )
        self.redelivered = Counter(
            "runner_redelivered",
            "Requests already finished, republished without executing.",
            registry=self.registry,
        )
