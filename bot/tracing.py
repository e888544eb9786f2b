"""OpenTelemetry traces, optional (`pip install 'ooda-bot[otel]'`) and off unless
OTEL_EXPORTER_OTLP_ENDPOINT is set: an inbound webhook or Slack request is a span, each job it
queues a child span (the trace context rides in the job's payload, bot.context), each Slack and
vendor API call under them a client span. The standard OTEL_* variables configure the exporter
(OTLP over HTTP) and OTEL_SERVICE_NAME the service (default ooda-bot).

opentelemetry is imported only when tracing is turned on, so the base install does not need it
and, off, `span()` costs a None check.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from bot import context

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE = "ooda-bot"

_tracer: Any = None  # an opentelemetry Tracer while tracing is on
_provider: Any = None  # its TracerProvider, shut down (spans flushed) by disable()


def enabled() -> bool:
    return _tracer is not None


def configure_from_environment() -> bool:
    """Turn tracing on when OTEL_EXPORTER_OTLP_ENDPOINT is set (`ooda serve`). Raises
    RuntimeError when it is set but the otel extra is not installed."""
    if not os.environ.get(ENDPOINT):
        return False
    try:
        # Late: only a deployment that exports traces needs the otel extra.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    except ImportError as exc:
        raise RuntimeError(
            f"{ENDPOINT} is set but OpenTelemetry is not installed: "
            "pip install 'ooda-bot[otel]' (or unset it)"
        ) from exc
    name = os.environ.get("OTEL_SERVICE_NAME") or SERVICE
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    enable(provider)
    return True


def enable(provider: Any) -> None:
    """Trace with this TracerProvider (tests give one with an in-memory exporter)."""
    global _tracer, _provider
    _tracer, _provider = provider.get_tracer("ooda-bot"), provider
    context.add_carrier("trace", _inject, _resume)


def disable() -> None:
    """Stop tracing; the provider exports what it holds and shuts down."""
    global _tracer, _provider
    provider, _tracer, _provider = _provider, None, None
    if provider is not None:
        provider.shutdown()
    context.add_carrier("trace", lambda: {}, lambda carried: contextlib.nullcontext())


def _inject() -> dict[str, str]:
    if _tracer is None:
        return {}
    from opentelemetry import propagate  # noqa: PLC0415 - only while tracing is on

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def _resume(carried: dict[str, str]) -> Iterator[None]:
    if _tracer is None:
        yield
        return
    from opentelemetry import context as otel_context  # noqa: PLC0415 - only while on
    from opentelemetry import propagate  # noqa: PLC0415

    token = otel_context.attach(propagate.extract(carried))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def span(
    name: str, *, kind: str = "internal", attributes: Mapping[str, Any] | None = None
) -> Iterator[Any]:
    """A span named `name` (kind: internal, server, client, consumer), child of the current
    one; an exception ends it with an error status. Off: nothing at all."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind  # noqa: PLC0415 - only while tracing is on

    with _tracer.start_as_current_span(
        name, kind=getattr(SpanKind, kind.upper()), attributes=dict(attributes or {})
    ) as current:
        yield current


def set_attribute(current: Any, key: str, value: Any) -> None:
    if current is not None:
        current.set_attribute(key, value)
