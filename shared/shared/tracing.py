"""OpenTelemetry tracing, off unless the standard `OTEL_*` variables turn it on.

`setup_tracing(service)` installs an OTLP (HTTP/protobuf) exporter when
`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and neither
`OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`); the exporter reads the rest of the
standard variables itself (headers, timeout, compression). Outbound HTTP calls (httpx, and
the aiohttp sessions under `shared.http`'s transport) carry a `traceparent` header and
FastAPI apps continue it (`trace_app`). Kafka records carry it
too: `kafka_headers()` on the producing side, `consuming(topic, headers)` on the consuming
side, so one trace runs gateway → Kafka → runner → keyvault → provider → result → gateway.

What spans hold: route templates, methods, status codes, topics, ids. Never a request or
response body and never a header value (the instrumentations capture none by default, and
provider keys only ever travel in headers), so no secret reaches a span.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

# Health and metrics probes are not traced (one span per probe every few seconds is noise).
UNTRACED_ROUTES = "healthz,readyz,metrics"
_PROPAGATED = ("traceparent", "tracestate")
EXECUTION = "flowtrux.execution_id"  # span attribute: the execution a span works on

_state: dict[str, Any] = {}
tracer = trace.get_tracer("flowtrux")


def tracing_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether the standard OTEL_* variables ask for exported traces."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def setup_tracing(service: str) -> bool:
    """Export this process's spans over OTLP when asked to (idempotent); True when on."""
    if "provider" in _state:
        return True
    if not tracing_requested():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    resource = Resource.create({"service.name": name}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    AioHttpClientInstrumentor().instrument()  # shared.http's transport under httpx clients
    _state["provider"] = provider
    return True


def trace_app(app: FastAPI, service: str) -> None:
    """Turn tracing on for this process if asked, and continue incoming traces in `app`'s
    routes (a no-op when tracing is off). The SDK flushes queued spans at process exit."""
    if not setup_tracing(service):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls=UNTRACED_ROUTES,
        tracer_provider=_state["provider"],
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )


def kafka_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka record headers (empty when nothing is traced)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(k, v.encode()) for k, v in carrier.items()]


def context_of(headers: Sequence[tuple[str, bytes]] | None) -> Context:
    """The trace context a Kafka record carries (an empty context when it carries none)."""
    carrier = {
        k: v.decode("latin-1") for k, v in headers or () if k in _PROPAGATED and v is not None
    }
    return propagate.extract(carrier)


def _nothing_records() -> bool:
    """Tracing is off: no SDK provider, so every span would be a no-op (the hot path skips
    them: two spans per record were ~0.2 ms of the runner's CPU per execution, for nothing)."""
    return isinstance(tracer, trace.ProxyTracer) and isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider
    )


@contextmanager
def producing(topic: str, **attributes: str) -> Iterator[list[tuple[str, bytes]]]:
    """A producer span for one record; yields the headers that continue it."""
    if _nothing_records() and not trace.get_current_span().get_span_context().is_valid:
        yield []
        return
    with tracer.start_as_current_span(
        f"{topic} publish",
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic, **attributes},
    ):
        yield kafka_headers()


@contextmanager
def consuming(
    topic: str, headers: Sequence[tuple[str, bytes]] | None, **attributes: str
) -> Iterator[Span]:
    """A consumer span for one record, child of the span that produced it."""
    if _nothing_records() and not any(k in _PROPAGATED for k, _ in headers or ()):
        # Nothing to continue either (a trace context is still passed on when one came).
        yield trace.INVALID_SPAN
        return
    with tracer.start_as_current_span(
        f"{topic} process",
        context=context_of(headers),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic, **attributes},
    ) as span:
        yield span
