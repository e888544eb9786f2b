"""For the postmortem tests: a constructed incident with known timestamps (`make_doc`), the
demo's catalog announcing resolutions in two channels (`announcing_config`, `stack_for`), and
what the bot posted or uploaded.

`make_doc`'s incident: opened 10:00, acknowledged 10:03, Orient 10:05, decision 10:12, rollback 10:12-10:20 (verify
passed), second loop from 10:20, resolved 10:41, all on 2026-11-24 UTC.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from bot.demo import CONFIG
from bot.devstack import DevStack
from bot.domain.model import (
    ActionRun,
    Change,
    ChangeStatus,
    Decision,
    FollowUp,
    IncidentView,
    RankedChange,
    Severity,
    Stage,
    StageSpan,
    Status,
    TimelineEntry,
    TimelineKind,
    Verdict,
)
from bot.postmortem.document import PostmortemDoc
from tests.helpers.stack import FAST_VERIFY, MakeStack


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, second, tzinfo=UTC)


def make_doc() -> PostmortemDoc:
    incident = IncidentView(
        number=42,
        title="Checkout returns 500s",
        severity=Severity.SEV2,
        status=Status.RESOLVED,
        stage=Stage.OBSERVE,
        opened_at=at(10, 0),
        service="checkout",
        pd_incident_id="PABC123",
        pd_url="https://example.pagerduty.com/incidents/PABC123",
        channel_name="inc-42-checkout-returns-500s",
        acknowledged_at=at(10, 3),
        resolved_at=at(10, 41),
        first_alert_at=at(9, 58),
        summary="Checkout failed for 20 minutes after a bad deploy.",
        impact=None,
        root_cause=None,
        roles={"commander": "U1", "scribe": "U2"},
    )
    spans = [
        StageSpan(Stage.OBSERVE, 1, at(10, 0), at(10, 5)),
        StageSpan(Stage.ORIENT, 1, at(10, 5), at(10, 10)),
        StageSpan(Stage.DECIDE, 1, at(10, 10), at(10, 12)),
        StageSpan(Stage.ACT, 1, at(10, 12), at(10, 20)),
        StageSpan(Stage.OBSERVE, 2, at(10, 20), at(10, 25)),
        StageSpan(Stage.ORIENT, 2, at(10, 25), at(10, 30)),
        StageSpan(Stage.DECIDE, 2, at(10, 30), at(10, 33)),
        StageSpan(Stage.ACT, 2, at(10, 33), at(10, 41)),
    ]
    change = Change(
        source="github",
        external_id="d-1",
        summary="Deploy checkout v2.3.1",
        created_at=at(9, 46),
        service="checkout",
        status=ChangeStatus.FAILURE,
        sha="abc1234def5678",
        url="https://github.com/acme/checkout/deployments/1",
    )
    other = Change(
        source="webhook",
        external_id="f-9",
        summary="Flag new_cart | 50% → 100%",
        created_at=at(9, 30),
        service="cart",
    )
    changes = [
        RankedChange(change, 0.87, "deployed 12 min before first alert; status failure",
                     likely=True, verdict=Verdict.CAUSED),
        RankedChange(other, 0.31, "flag flip on a dependency", verdict=Verdict.NOT_RELATED),
    ]  # fmt: skip
    decisions = [
        Decision(at(10, 12), "U1", "Roll back checkout", "bad deploy 12 min before alerts",
                 playbook_id="rollback", evidence=("deploy d-1 failed", "error rate 30%")),
        Decision(at(10, 33), "U2", "Scale up cart", "queue depth high"),
    ]  # fmt: skip
    actions = [
        ActionRun(
            key="a1", playbook_id="rollback", title="Roll back checkout",
            action="github.workflow_dispatch", params={"ref": "v2.3.0", "service": "checkout"},
            requested_by="U1", status="succeeded", created_at=at(10, 12),
            approved_by=("U3",), started_at=at(10, 12), finished_at=at(10, 20),
            result="workflow run 991 succeeded", verify_passed=True,
        ),
        ActionRun(
            key="a2", playbook_id="scale", title="Scale cart", action="http.webhook",
            params={"replicas": 6}, requested_by="U2", status="failed", created_at=at(10, 33),
            started_at=at(10, 34), finished_at=at(10, 36), result="HTTP 502",
            verify_passed=False,
        ),
    ]  # fmt: skip
    timeline = [
        TimelineEntry(at(10, 0), TimelineKind.OPENED, "Incident opened from PagerDuty",
                      actor="pagerduty"),
        TimelineEntry(at(10, 3), TimelineKind.STATUS, "Acknowledged", actor="U1"),
        TimelineEntry(at(10, 4), TimelineKind.NOTE, "Errors spike at <script>alert(1)</script>",
                      actor="U2"),
        TimelineEntry(at(10, 6), TimelineKind.PINNED, "p99 | 4s on /pay\nsecond line",
                      actor="U4", pinned=True),
        TimelineEntry(at(10, 12), TimelineKind.DECISION, "Decision: Roll back checkout",
                      actor="U1"),
        TimelineEntry(at(10, 20), TimelineKind.VERIFY, "Alerts cleared", actor="system"),
        TimelineEntry(at(10, 41), TimelineKind.RESOLVED, "Resolved", actor="U1", pinned=True),
    ]  # fmt: skip
    followups = [
        FollowUp("Add canary for checkout", "U1", at(10, 45), url="https://jira.example/CHK-1"),
    ]
    return PostmortemDoc(
        incident=incident,
        spans=spans,
        timeline=timeline,
        changes=changes,
        decisions=decisions,
        actions=actions,
        followups=followups,
        names={"U1": "Alice", "U2": "Bob", "U3": "Carol"},
        services=["checkout", "cart"],
        links=[("Dashboard", "https://grafana.example/d/checkout")],
        generated_at=at(11, 0),
    )


def announcing_config(**extra: Any) -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config["announcements_channel"] = "#incidents"
    config["services"][0]["slack_channel"] = "#checkout-eng"
    return config | extra


def stack_for(make_stack: MakeStack, config: dict[str, Any]) -> DevStack:
    """A stack (not started) on `config` with the channels announcing_config names."""
    stack = make_stack(config, env=FAST_VERIFY)
    stack.slack.add_channel("incidents")
    stack.slack.add_channel("checkout-eng")
    return stack


def file_text(record: dict[str, Any]) -> str:
    content = record["content"]
    return content.decode() if isinstance(content, bytes) else str(content)


def postmortem_posts(stack: DevStack, channel: str) -> list[str]:
    """Announcements that mention the postmortem (the resolution carries its link)."""
    return [m["text"] for m in stack.slack.messages(channel) if "postmortem" in m["text"].lower()]


def resolved_posts(stack: DevStack, channel: str) -> list[str]:
    return [m["text"] for m in stack.slack.messages(channel) if "resolved*" in m["text"]]


def announcements(stack: DevStack, channel: str) -> list[str]:
    """What the bot posted about the end of INC-1 in an announcements channel."""
    return [
        m["text"]
        for m in stack.slack.messages(channel)
        if "resolved" in m["text"] or "postmortem" in m["text"].lower()
    ]


def postmortem_files(stack: DevStack) -> list[dict[str, Any]]:
    """The postmortem documents uploaded to Slack (its stage chart, a PNG, left out)."""
    return [f for f in stack.slack.files if f["filename"].endswith("-postmortem.md")]
