"""OpenTelemetry set-up: one tracer provider per process, OTLP export when configured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from shared.settings import Settings

SERVICE_PREFIX = "newsflow"
ATTR_ARTICLE_ID = "newsflow.article_id"
ATTR_URL = "url.full"
ATTR_STAGE = "newsflow.stage"
ATTR_OUTCOME = "newsflow.outcome"


def setup_tracing(service: str, settings: Settings) -> TracerProvider:
    """A tracer provider for this process (make it after fork); pass it where spans start.

    Spans go to `OTEL_EXPORTER_OTLP_ENDPOINT` over OTLP/HTTP when it is set; otherwise they
    are still created (trace ids appear in logs and article status) but not exported.
    """
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"{SERVICE_PREFIX}-{service}"})
    )
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint), schedule_delay_millis=500)
        )
    return provider


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def set_outcome_attributes(span: trace.Span, fields: Mapping[str, Any]) -> None:
    """Put what a stage produced (sizes, counts, hashes) on its span as `newsflow.<field>`."""
    for key, value in fields.items():
        if isinstance(value, str | bool | int | float):
            span.set_attribute(f"{SERVICE_PREFIX}.{key}", value)
