"""Orient end to end through the real app: change webhooks before and after the page, a slow
and a failing source, an incident outside the catalog, and a responder's verdict."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.devstack import DevStack
from bot.domain.model import TimelineKind, utcnow
from bot.storage import repo
from tests.helpers.orient import (
    WEBHOOK_ENV,
    card,
    change_webhook,
    channel_id,
    checkout_deployed,
    deploy_webhook,
    missing_context,
    orient_changes,
    page,
    paged,
    verdict_values,
)

CONFIG: dict[str, Any] = {
    "services": [
        {
            "name": "checkout",
            "pagerduty_service_ids": ["PCHKOUT"],
            "github_repo": "acme/checkout",
            "github_environment": "production",
            "depends_on": ["payments"],
        },
        {"name": "payments", "pagerduty_service_ids": ["PPAYMNT"], "github_repo": "acme/payments"},
    ]
}
SUSPECT_SHA = "c0ffee15deadbeefc0ffee15deadbeefc0ffee15"


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


@pytest.fixture
def stack_env() -> dict[str, str]:
    return WEBHOOK_ENV


async def test_deploy_webhook_then_page_lists_that_deploy_first(stack: DevStack) -> None:
    first_alert = utcnow() - timedelta(minutes=3)
    deployed = first_alert - timedelta(minutes=12)
    # An older deploy that Orient polls from the GitHub API itself.
    checkout_deployed(stack, "9a8b7c6d" * 5, first_alert - timedelta(hours=5), "v1.42.0")
    suspect = {
        "dep_id": 5551,
        "repo": "acme/checkout",
        "sha": SUSPECT_SHA,
        "created_at": deployed,
        "description": "v1.43.0: new payment retry policy",
    }
    assert (await deploy_webhook(stack, **suspect)).json()["status"] == "pending"
    failed = await deploy_webhook(stack, **suspect, state="failure")
    assert failed.json()["status"] == "failure"
    flag = await change_webhook(
        stack,
        summary="Enable payments.fast-path flag",
        at=first_alert - timedelta(minutes=40),
        source="acme/payments",
        details={"id": "flag-42", "kind": "flag", "status": "success"},
        links=[{"href": "https://flags.example.com/payments.fast-path"}],
    )
    assert flag.status_code == 202 and flag.json()["service"] == "payments"

    await paged(stack, first_alert=first_alert)

    changes = orient_changes(stack)
    assert len(changes) == 3, changes
    assert "v1.43.0: new payment retry policy" in changes[0]
    assert SUSPECT_SHA[:7] in changes[0] and "likely suspect" in changes[0]
    assert "deployed to checkout 12 min before the first alert; status failure" in changes[0]
    flipped = next(c for c in changes if "payments.fast-path" in c)
    assert "a dependency of checkout" in flipped and "40 min before the first alert" in flipped
    assert "v1.42.0" in changes[2] and "5 h before the first alert" in changes[2]
    assert missing_context(stack) == ""


async def test_status_webhook_after_the_page_redraws_orient(stack: DevStack) -> None:
    first_alert = utcnow() - timedelta(minutes=3)
    await paged(stack, first_alert=first_alert)
    assert orient_changes(stack) == []
    orient_ts = card(stack, "INC-1 Orient")["ts"]  # type: ignore[index]

    answer = await deploy_webhook(
        stack,
        dep_id=7001,
        repo="acme/checkout",
        sha=SUSPECT_SHA,
        created_at=first_alert - timedelta(minutes=6),
        description="v2.0.0",
        state="error",
    )
    assert answer.status_code == 200 and answer.json()["reoriented"] == [1]
    # A deploy of an unrelated repository leaves the incident alone.
    unrelated = await deploy_webhook(
        stack,
        dep_id=7002,
        repo="acme/search",
        sha="ab" * 20,
        created_at=first_alert - timedelta(minutes=2),
        description="search v9",
    )
    assert unrelated.json()["reoriented"] == []
    # A change to a dependency, reported by CI, concerns it too.
    flag = await change_webhook(
        stack,
        summary="Raise payments pool size",
        at=first_alert - timedelta(minutes=30),
        source="acme/payments",
        details={"id": "cfg-1", "kind": "config"},
    )
    assert flag.json()["reoriented"] == [1]
    await stack.settle()

    changes = orient_changes(stack)
    assert len(changes) == 3, changes  # every change in the window is a candidate
    assert "v2.0.0" in changes[0] and "status failure" in changes[0]
    assert "payments pool size" in changes[1] and "a dependency of checkout" in changes[1]
    assert "search v9" in changes[2] and "(service unknown)" in changes[2]
    updates = [c for c in stack.slack.calls("chat.update") if c.params.get("ts") == orient_ts]
    assert updates, "the Orient card was not updated in place"
    async with stack.runtime.db.session() as session:
        entries = await repo.timeline(session, 1)
    # Orient ran twice with the same outcome: the timeline says so once.
    assert [e.text for e in entries if e.kind is TimelineKind.CONTEXT] == [
        "Orient context gathered"
    ]


async def test_incident_outside_the_catalog_orients_across_everything(stack: DevStack) -> None:
    first_alert = utcnow() - timedelta(minutes=3)
    # Not polled: the incident has no catalog service, so no repository to ask.
    checkout_deployed(stack, SUSPECT_SHA, first_alert - timedelta(minutes=20), "checkout v1.43.0")
    await change_webhook(
        stack,
        summary="Config push: payments timeouts 2s→5s",
        at=first_alert - timedelta(minutes=9),
        source="payments",
        details={"id": "cfg-9", "kind": "config"},
    )
    await paged(stack, first_alert=first_alert, service_id="PUNKNWN")

    orient = card(stack, "INC-1 Orient")
    assert orient is not None
    assert "not in the services catalog" in str(orient["blocks"])
    changes = orient_changes(stack)
    assert len(changes) == 1 and "payments timeouts" in changes[0]
    assert "config change to payments 9 min before the first alert" in changes[0]
    assert all(c.path != "/repos/acme/checkout/deployments" for c in stack.github.calls)


async def test_slow_source_card_posted_first_then_updated(
    stack: DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack.runtime.settings, "source_deadline_seconds", 0.2)
    first_alert = utcnow() - timedelta(minutes=3)
    checkout_deployed(
        stack, SUSPECT_SHA, first_alert - timedelta(minutes=10), "v1.43.0", state="failure"
    )
    gate = stack.github.hold("/repos/acme/checkout/deployments")
    try:
        assert (
            await stack.pagerduty_webhook(page(stack, first_alert=first_alert))
        ).status_code == 202

        def posted_while_loading(slack: Any) -> bool:
            orient = next(
                (m for m in slack.messages() if m["text"].startswith("INC-1 Orient")), None
            )
            return orient is not None and "still loading" in str(orient["blocks"])

        await stack.slack.wait_for(posted_while_loading, timeout=20)
        assert "GitHub deployments (still loading…)" in missing_context(stack)
        assert orient_changes(stack) == []
        # GitHub has not answered yet: the fake records a request once it has answered it.
        assert not [c for c in stack.github.calls if c.path.endswith("/deployments")]
        orient_ts = card(stack, "INC-1 Orient")["ts"]  # type: ignore[index]
    finally:
        gate.set()
    await stack.settle()

    assert [c for c in stack.github.calls if c.path.endswith("/deployments")]
    changes = orient_changes(stack)
    assert "v1.43.0" in changes[0] and "likely suspect" in changes[0]
    assert missing_context(stack) == ""
    assert any(c.params.get("ts") == orient_ts for c in stack.slack.calls("chat.update"))
    posts = [
        c
        for c in stack.slack.calls("chat.postMessage")
        if c.params.get("text", "").startswith("INC-1 Orient")
    ]
    assert len(posts) == 1, "the late answer updates the card instead of posting another"


async def test_failing_source_is_named_and_the_incident_still_opens(stack: DevStack) -> None:
    first_alert = utcnow() - timedelta(minutes=3)
    stack.github.fail_next("/repos/acme/checkout/deployments", status=500, times=20)
    await change_webhook(
        stack,
        summary="Deploy checkout from CI",
        at=first_alert - timedelta(minutes=7),
        source="acme/checkout",
        details={"id": "ci-77", "sha": SUSPECT_SHA},
    )
    await paged(stack, first_alert=first_alert)

    cid = channel_id(stack)
    assert card(stack, "INC-1 Observe") is not None
    missing = missing_context(stack)
    assert "GitHub deployments" in missing and "still loading" not in missing
    changes = orient_changes(stack)
    assert len(changes) == 1 and "Deploy checkout from CI" in changes[0]
    async with stack.runtime.db.session() as session:
        row = await repo.get_incident(session, 1)
        entries = await repo.timeline(session, 1)
    assert row is not None and row.status == "triggered" and row.channel_id == cid
    context_entry = next(e for e in entries if e.kind is TimelineKind.CONTEXT)
    assert "GitHub deployments" in context_entry.text

    # A verdict redraws the card from storage: it still says what is missing.
    orient = card(stack, "INC-1 Orient")
    assert orient is not None
    value = verdict_values(orient, "verdict_suspect")[0]
    bob = stack.slack.add_user("bob@example.com", "U0BOB0001", name="bob")
    stack.slack.join(cid, bob)  # a responder: in the channel
    await stack.click("verdict_suspect", value, user=bob, channel=cid, message_ts=orient["ts"])
    await stack.settle()
    assert "verdict: *suspect*" in orient_changes(stack)[0]
    assert "GitHub deployments" in missing_context(stack)


async def test_verdict_caused_end_to_end(stack: DevStack) -> None:
    first_alert = utcnow() - timedelta(minutes=3)
    migration_at = first_alert - timedelta(hours=3)
    checkout_deployed(stack, SUSPECT_SHA, migration_at, "v1.43.0: schema migration")
    checkout_deployed(stack, "9a8b7c6d" * 5, first_alert - timedelta(minutes=8), "v1.44.0")
    alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
    await paged(stack, first_alert=first_alert)
    cid = channel_id(stack)
    before = orient_changes(stack)
    assert "v1.44.0" in before[0] and "v1.43.0" in before[1]
    summary = card(stack, "INC-1 live summary")
    assert summary is not None and "v1.44.0" in str(summary["blocks"])

    # The responder knows better: the older migration caused it.
    orient = card(stack, "INC-1 Orient")
    assert orient is not None
    buttons = verdict_values(orient, "verdict_caused")
    stack.slack.join(cid, alice)  # a responder: in the channel
    clicked = await stack.click(
        "verdict_caused", buttons[1], user=alice, channel=cid, message_ts=orient["ts"]
    )
    assert clicked.status_code == 200
    await stack.settle()

    async with stack.runtime.db.session() as session:
        entries = await repo.timeline(session, 1)
        ranked = await repo.ranked_changes(session, 1)
    verdicts = [e for e in entries if e.kind is TimelineKind.CHANGE_VERDICT]
    assert [(e.actor, e.data["verdict"]) for e in verdicts] == [(alice, "caused")]
    assert "v1.43.0" in verdicts[0].text
    assert [r.verdict.value if r.verdict else None for r in ranked] == [None, "caused"]
    after = orient_changes(stack)
    assert "verdict: *caused*" in after[1] and "verdict" not in after[0]
    summary = card(stack, "INC-1 live summary")
    assert summary is not None
    assert "v1.43.0" in str(summary["blocks"]) and "verdict caused" in str(summary["blocks"])

    # The postmortem carries the verdict in its changes table.
    stack.pagerduty.resolve_alerts("PORIENT1")
    resolved = stack.pagerduty.webhook_event("incident.resolved", "PORIENT1")
    assert (await stack.pagerduty_webhook(resolved)).status_code == 202
    await stack.settle()
    postmortem = next(f for f in stack.slack.files if f["title"] == "INC-1 postmortem")
    row = next(
        line
        for line in postmortem["text"].splitlines()
        if line.startswith("|") and "v1.43.0" in line
    )
    assert row.rstrip().endswith("| Caused |"), row
