"""Tracing is off unless the standard OTEL_* variables ask for it; a Kafka record's headers
carry the producer's trace context to its consumer."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
    ],
)
def test_tracing_is_requested_only_by_an_otlp_endpoint(env: dict[str, str], on: bool) -> None:
    assert tracing.tracing_requested(env) is on


def test_without_a_recording_span_no_header_is_written() -> None:
    assert tracing.kafka_headers() == []
    assert tracing.context_of(None) == tracing.context_of([])


def test_the_consumer_span_continues_the_producer_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    original = tracing.tracer
    tracing.tracer = tracer
    try:
        with tracing.producing("requests", **{tracing.EXECUTION: "exec-1"}) as headers:
            pass
        assert [k for k, _ in headers] == ["traceparent"]
        with tracing.consuming("requests", [("other", b"x"), *headers]):
            pass
        with tracing.consuming("requests", [("traceparent", b"garbage")]):
            pass
    finally:
        tracing.tracer = original
    produced, consumed, orphan = exporter.get_finished_spans()
    assert produced.kind == trace.SpanKind.PRODUCER
    assert produced.attributes is not None
    assert produced.attributes[tracing.EXECUTION] == "exec-1"
    assert consumed.kind == trace.SpanKind.CONSUMER
    assert consumed.context is not None
    assert produced.context is not None
    assert consumed.context.trace_id == produced.context.trace_id
    assert consumed.parent is not None
    assert consumed.parent.span_id == produced.context.span_id
    assert orphan.parent is None  # an unreadable header starts a new trace, never an error


class _CountingProxyTracer(trace.ProxyTracer):
    """The default (no SDK) tracer, counting the spans asked of it."""

    def __init__(self) -> None:
        super().__init__("flowtrux")
        self.spans = 0

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        self.spans += 1
        return super().start_as_current_span(*args, **kwargs)


def test_with_tracing_off_an_untraced_record_costs_no_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counting = _CountingProxyTracer()
    monkeypatch.setattr(tracing, "tracer", counting)
    with tracing.consuming("requests", []) as span:
        span.set_attribute(tracing.EXECUTION, "exec-1")
        with tracing.producing("results", **{tracing.EXECUTION: "exec-1"}) as headers:
            pass
    assert headers == []
    assert counting.spans == 0  # per record on the hot path: nothing to record, no span


def test_with_tracing_off_a_traced_record_still_passes_its_trace_on() -> None:
    parent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with (
        tracing.consuming("requests", [("traceparent", parent)]),
        tracing.producing("results") as headers,
    ):
        pass
    assert [(k, v[3:35]) for k, v in headers] == [("traceparent", parent[3:35])]
