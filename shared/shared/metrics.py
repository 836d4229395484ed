"""Prometheus metrics every service shares: one registry per app with the process, GC and
platform collectors, the per-route HTTP series, Kafka consumer lag, and the `/metrics` route.

Every name starts with `flowtrux_`. Label values are bounded: a route is its template
(`/internal/v1/keys/{key_id}`), never the raw path; an unmatched path is `unmatched`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import IllegalStateError
from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from shared.web import ProblemError

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
UNMATCHED = "unmatched"


def new_registry() -> CollectorRegistry:
    """A registry holding the process (CPU, memory, fds), GC and platform collectors."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class HttpMetrics:
    """Requests, 5xx errors and duration per method and route template."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "flowtrux_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.errors = Counter(
            "flowtrux_http_errors",
            "HTTP requests answered with a 5xx status, by method and route template.",
            ["method", "route"],
            registry=registry,
        )
        self.duration = Histogram(
            "flowtrux_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        if status >= 500:
            self.errors.labels(method, route).inc()
        self.duration.labels(method, route).observe(seconds)


class ConsumerLag:
    """`flowtrux_kafka_consumer_lag{topic, consumer}`: records on the consumer's assigned
    partitions not yet read (high-water mark minus position), refreshed at each scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauge = Gauge(
            "flowtrux_kafka_consumer_lag",
            "Records on the assigned partitions not yet consumed (high-water mark - position).",
            ["topic", "consumer"],
            registry=registry,
        )
        self._sources: list[tuple[str, Any]] = []

    def watch(self, consumer_name: str, source: object) -> None:
        """Report the lag of `source.consumer` (an aiokafka consumer, None while not started:
        a StateTopicReader, a FastStream subscriber, the gateway's bus) as `consumer_name`."""
        self._sources.append((consumer_name, source))

    def set(self, *, topic: str, consumer: str, lag: int) -> None:
        self.gauge.labels(topic, consumer).set(max(0, lag))

    async def refresh(self) -> None:
        for name, source in self._sources:
            kafka: AIOKafkaConsumer | None = getattr(source, "consumer", None)
            if kafka is None:
                continue
            for topic, lag in (await consumer_lag(kafka)).items():
                self.set(topic=topic, consumer=name, lag=lag)


async def consumer_lag(consumer: AIOKafkaConsumer) -> dict[str, int]:
    """Per topic: the sum over assigned partitions of high-water mark minus position (both
    known locally once the partition was fetched; a partition not fetched yet is skipped)."""
    lags: dict[str, int] = {}
    for tp in consumer.assignment():
        try:
            high = consumer.highwater(tp)
            position = await asyncio.wait_for(consumer.position(tp), 1)
        except (AssertionError, IllegalStateError, TimeoutError):
            continue  # reassigned or not positioned yet: nothing to report for it now
        if high is None:
            continue
        lags[tp.topic] = lags.get(tp.topic, 0) + max(0, high - position)
    return lags


PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def metrics_router(
    registry: CollectorRegistry,
    *,
    before: Iterable[Callable[[], Awaitable[None] | None]] = (),
    direct_only: bool = False,
    **route: Any,
) -> APIRouter:
    """`GET /metrics` in Prometheus text format; `before` refresh gauges at scrape time.

    `direct_only` (the gateway, the one service behind the public Ingress): a request that
    came through a proxy (it carries `Forwarded`, `X-Forwarded-For` or `X-Real-IP`, which
    ingress controllers add) is answered 404, so the metrics are reachable only by scraping
    the pod directly, as Prometheus does."""
    router = APIRouter()
    refreshers = list(before)

    @router.get("/metrics", **route)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics."""
        if direct_only and any(h in request.headers for h in PROXY_HEADERS):
            raise ProblemError(404, "not_found", "not found")
        for refresh in refreshers:
            pending = refresh()
            if pending is not None:
                await pending
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
