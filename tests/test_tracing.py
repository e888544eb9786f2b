"""OpenTelemetry traces (the otel extra), with the SDK's in-memory exporter: a PagerDuty page is
one trace, from the webhook's server span through the jobs it queued (the trace context carried
in their payloads) to the PagerDuty, GitHub and Slack calls they made; off, nothing is traced."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bot import context, tracing
from bot.demo import CONFIG, DemoIncident, Step
from tests.helpers.stack import FAST_VERIFY, MakeStack

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.enable(provider)
    try:
        yield memory
    finally:
        tracing.disable()


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_a_page_is_one_trace_from_webhook_to_vendor_calls(
    make_stack: MakeStack, exporter: InMemorySpanExporter
) -> None:
    async with make_stack(CONFIG, env=FAST_VERIFY) as stack:
        await DemoIncident(stack).play(through=Step.PAGE)
    spans = list(exporter.get_finished_spans())
    [webhook] = [s for s in spans if s.name == "POST /webhooks/pagerduty"]
    assert webhook.attributes is not None
    assert webhook.attributes["http.response.status_code"] == 202
    trace = [s for s in spans if s.context.trace_id == webhook.context.trace_id]
    by_id = {s.context.span_id: s for s in trace}
    names = {s.name for s in trace}
    for expected in ("job pagerduty.event", "job incident.setup", "PagerDuty GET", "GitHub GET"):
        assert expected in names, sorted(names)
    [event_job] = [s for s in trace if s.name == "job pagerduty.event"]
    assert ancestors(event_job, by_id) == ["POST /webhooks/pagerduty"]
    [setup] = [s for s in trace if s.name == "job incident.setup"]
    assert ancestors(setup, by_id) == ["job pagerduty.event", "POST /webhooks/pagerduty"]
    assert setup.attributes is not None and setup.attributes["ooda.incident"] == "INC-1"
    pd_calls = [s for s in trace if s.name == "PagerDuty GET"]
    assert all(ancestors(s, by_id)[-1] == "POST /webhooks/pagerduty" for s in pd_calls)
    slack_calls = [s for s in trace if s.name.startswith("slack ") and s.name != "slack request"]
    assert slack_calls, sorted(names)  # e.g. users.lookupByEmail for the responders


def test_off_nothing_is_carried() -> None:
    assert not tracing.enabled()
    with tracing.span("anything") as current:
        assert current is None
    assert "trace" not in context.carried()


def test_the_base_install_does_not_import_opentelemetry(tmp_path: Path) -> None:
    code = (
        "import sys, bot.cli, bot.compose, bot.tracing; "
        "print([m for m in sys.modules if m.startswith('opentelemetry')])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"


def test_endpoint_set_turns_tracing_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tracing.ENDPOINT, "http://127.0.0.1:9")
    try:
        assert tracing.configure_from_environment() is True
        assert tracing.enabled()
    finally:
        tracing.disable()
    monkeypatch.delenv(tracing.ENDPOINT)
    assert tracing.configure_from_environment() is False and not tracing.enabled()
