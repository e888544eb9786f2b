"""GET /metrics after a scripted incident: counters and histograms with the right values."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError

from bot.demo import CONFIG, DemoIncident
from bot.domain.model import utcnow
from bot.storage import jobs
from bot.storage.tables import Job
from bot.telemetry import Metrics, webhook_result
from integrations.http import UpstreamError
from tests.helpers.stack import FAST_VERIFY, MakeStack


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: dict, name: str, **labels: str) -> float | None:
    return metrics.get((name, frozenset(labels.items())))


async def test_metrics_after_a_scripted_incident(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG, env=FAST_VERIFY) as stack:
        demo = await DemoIncident(stack).play()
        rt = stack.runtime
        # Webhook outcomes besides the two accepted ones (triggered, resolved).
        redelivered = stack.pagerduty.webhook_event(
            "incident.resolved", demo.scenario.pd_incident_id
        )
        assert (await stack.pagerduty_webhook(redelivered, webhook_id="W-1")).status_code == 202
        again = await stack.pagerduty_webhook(redelivered, webhook_id="W-1")
        assert again.json() == {"ok": True, "duplicate": True}
        forged = await stack.pagerduty_webhook(redelivered, secrets=["not-the-secret"])
        assert forged.status_code == 403
        ignored = {"event": {"event_type": "service.updated", "id": "E1", "data": {}}}
        assert (await stack.pagerduty_webhook(ignored)).json()["ignored"] == "service.updated"
        await stack.settle()

        # Slack: one rate-limited call that succeeds on retry, one call that fails for good.
        stack.slack.fail_next("chat.postMessage", status=429, retry_after=0)
        await rt.slack.post(demo.channel, "after a 429")
        with pytest.raises(SlackApiError):
            await rt.slack.post("C0MISSING1", "nowhere")
        # GitHub: two 503s then success (GET is retried); a POST that fails for good.
        assert rt.github is not None
        stack.github.fail_next("/repos/acme/payments/deployments", status=503, times=2)
        await rt.github.list_deployments("acme/payments")
        stack.github.fail_next("/repos/acme/checkout/issues", status=500)
        with pytest.raises(UpstreamError):
            await rt.github.create_issue("acme/checkout", title="t", body="b")

        # A raw path nobody routes: counted under "unmatched", never as itself.
        assert (await stack.http.get("/webhooks/INC-1/../x")).status_code == 404  # type: ignore[union-attr]
        # The queue as the gauges see it, the worker stopped so nothing claims these.
        await rt.worker.stop()
        now = utcnow()
        async with rt.db.transaction() as session:
            jobs.add_job(session, "test.later", {}, due_at=now + timedelta(hours=1))
            jobs.add_job(session, "test.waiting", {}, due_at=now - timedelta(minutes=10))
            session.add(Job(kind="test.exhausted", payload={}, status="dead", due_at=now))

        response = await stack.http.get("/metrics")  # type: ignore[union-attr]
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        m = samples(response.text)

    assert value(m, "ooda_incidents_opened_total", severity="SEV2") == 1
    assert value(m, "ooda_incidents_resolved_total", severity="SEV2") == 1
    # Observe twice (before the ack, then after the rollback until resolve), the rest once.
    for stage, times in (("observe", 2), ("orient", 1), ("decide", 1), ("act", 1)):
        assert value(m, "ooda_stage_duration_seconds_count", stage=stage) == times, stage
        total = value(m, "ooda_stage_duration_seconds_sum", stage=stage)
        # Observe starts when PagerDuty opened the incident (3 min before the demo's trigger).
        assert total is not None and 0 <= total < (300 if stage == "observe" else 120)
    assert value(m, "ooda_stage_duration_seconds_bucket", stage="orient", le="+Inf") == 1

    assert value(m, "ooda_webhooks_total", source="pagerduty", result="accepted") == 3
    assert value(m, "ooda_webhooks_total", source="pagerduty", result="duplicate") == 1
    assert value(m, "ooda_webhooks_total", source="pagerduty", result="rejected") == 1
    assert value(m, "ooda_webhooks_total", source="pagerduty", result="ignored") == 1

    assert value(m, "ooda_slack_api_retries_total", reason="rate_limited") == 1
    assert (
        value(
            m, "ooda_slack_api_errors_total", method="chat.postMessage", error="channel_not_found"
        )
        == 1
    )
    assert value(m, "ooda_vendor_api_retries_total", vendor="GitHub") == 2
    assert value(m, "ooda_vendor_api_errors_total", vendor="GitHub", status="500") == 1

    # The process, the GC and the platform, on the runtime's own registry.
    assert value(m, "process_cpu_seconds_total") is not None
    assert value(m, "python_gc_objects_collected_total", generation="0") is not None
    assert any(name == "python_info" for name, _ in m)
    # Jobs: durations by kind and outcome; the queue read from the database at the scrape.
    for kind in ("pagerduty.event", "incident.setup", "action.run", "incident.postmortem"):
        count = value(m, "ooda_job_duration_seconds_count", kind=kind, outcome="done")
        assert count is not None and count >= 1, kind
    assert value(m, "ooda_job_queue_depth", kind="test.later", state="pending") == 1
    assert value(m, "ooda_job_queue_depth", kind="test.waiting", state="pending") == 1
    oldest = value(m, "ooda_job_oldest_due_age_seconds")
    assert oldest is not None and 600 <= oldest < 900
    assert value(m, "ooda_jobs_dead") == 1
    # Everything the incident said was delivered.
    for state in ("pending", "sending", "unknown"):
        assert value(m, "ooda_slack_outbox_depth", state=state) == 0
    # HTTP: by route template and status; the stray path as "unmatched".
    http = "ooda_http_request_duration_seconds_count"
    pd = {"route": "/webhooks/pagerduty", "method": "POST"}
    assert value(m, http, **pd, status="202") == 3
    assert value(m, http, **pd, status="403") == 1
    slack = value(m, http, route="/slack/events", method="POST", status="200")
    assert slack is not None and slack >= 5
    assert value(m, http, route="unmatched", method="GET", status="404") == 1
    assert not [labels for name, labels in m if name == http and "INC-1" in str(labels)]


def test_each_runtime_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.webhook("pagerduty", "accepted")
    assert b'ooda_webhooks_total{result="accepted",source="pagerduty"} 1.0' in first.exposition()
    assert b"ooda_webhooks_total{" not in second.exposition()


@pytest.mark.parametrize(
    ("status", "body", "result"),
    [
        (202, {"ok": True, "accepted": "incident.triggered"}, "accepted"),
        (200, {"ok": True, "duplicate": True}, "duplicate"),
        (200, {"ok": True, "ignored": "service.updated"}, "ignored"),
        (200, {"ok": True, "pong": True}, "ignored"),
        (401, {"ok": False, "error": "missing X-PagerDuty-Signature"}, "rejected"),
        (413, {"ok": False, "error": "body larger than 2 MB"}, "rejected"),
    ],
)
def test_webhook_result(status: int, body: dict, result: str) -> None:
    assert webhook_result(status, json.dumps(body).encode()) == result
