"""OpenTelemetry tracing: off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

One trace follows a notification: the gateway's request span, then (through the trace
context carried inside the queued command) the worker's delivery span and the span of
the SMTP or push call. With tracing off the API's no-op tracer costs next to nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)

tracer = trace.get_tracer("herald")


def configure(service: str, *, endpoint: str | None, exporter: SpanExporter | None = None) -> None:
    """Send spans to ``endpoint`` (OTLP over HTTP), or to ``exporter`` as they end."""
    if endpoint is None and exporter is None:
        return
    processor: SpanProcessor
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert endpoint is not None
        processor = BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
        )
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        current.add_span_processor(processor)  # a provider is set once per process
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"herald-{service}"}))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)


def inject() -> dict[str, str]:
    """The current trace context as W3C ``traceparent`` headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str] | None) -> Context:
    return propagate.extract(dict(carrier or {}))
