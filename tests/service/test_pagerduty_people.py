"""Observe stays live, and PagerDuty's people come to the channel (on-call, assignees, responders)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.devstack import DevStack
from bot.fakes.pagerduty_webhooks import ref
from bot.service import responders
from bot.service.incidents import load as load_incident
from tests.helpers.pagerduty import (
    CONFIG,
    PD,
    deliver,
    incidents,
    invited,
    observe_card,
    seed_incident,
    timeline,
)


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


async def test_observe_card_follows_alerts_and_log_entries(stack: DevStack) -> None:
    pd = stack.pagerduty
    seed_incident(stack)
    await deliver(stack, "incident.triggered")
    [inc] = await incidents(stack)
    first = str(observe_card(stack, inc.channel_id)["blocks"])
    assert "PINC001 5xx rate 12%" in first and ":new:" not in first

    # The first alert clears, a new one fires, PagerDuty notifies and escalates.
    pd.resolve_alerts(PD, resolve_incident=False)
    pd.add_alert(PD, summary="payments queue depth 18k")
    alice = ref("user", "PALICE1", "Alice Example", "users")
    pd.add_log_entry(PD, type="notify_log_entry", summary="Notified Alice by SMS", agent=alice)
    pd.add_log_entry(PD, type="escalate_log_entry", summary="Escalated to level 2")
    bob = ref("user", "PBOB001", "Bob Builder", "users")
    escalated = pd.webhook_event("incident.escalated", PD, data_extra={"assignees": [bob]})
    assert (await stack.pagerduty_webhook(escalated)).status_code == 202
    await stack.settle()

    card = observe_card(stack, inc.channel_id)  # the same message, updated
    text = str(card["blocks"])
    assert ":white_check_mark: PINC001 5xx rate 12% — resolved" in text
    assert ":red_circle: payments queue depth 18k — triggered" in text
    new_lines = [line for line in text.split("\\n") if ":new:" in line]
    assert len(new_lines) == 1 and "payments queue depth" in new_lines[0]
    assert "Notified: Alice Example" in text
    assert "Escalations: Escalated to level 2" in text
    assert card["text"] == "INC-1 Observe: 1 alert(s) firing"


async def test_observe_card_shows_urgency_firing_since_service_and_link(stack: DevStack) -> None:
    pd_incident = seed_incident(stack, urgency="high")
    event = stack.pagerduty.webhook_event("incident.triggered", "PINC001")
    assert (await stack.pagerduty_webhook(event)).status_code == 202
    await stack.settle()
    [inc] = await incidents(stack)
    text = str(observe_card(stack, inc.channel_id)["blocks"])
    assert "*Service:* checkout" in text
    assert "*Urgency:* high" in text
    assert re.search(r"\*Firing since:\* \d{2}:\d{2}", text), text
    assert f"<{pd_incident['html_url']}|Open in PagerDuty>" in text


async def test_observe_fetches_every_page_of_alerts(stack: DevStack) -> None:
    seed_incident(stack)
    for n in range(129):  # 130 with the seeded one: two pages of 100
        stack.pagerduty.add_alert(PD, summary=f"host-{n} down")
    await deliver(stack, "incident.triggered")
    [inc] = await incidents(stack)
    card = observe_card(stack, inc.channel_id)
    assert card["text"] == "INC-1 Observe: 130 alert(s) firing"
    assert "…and 120 more" in str(card["blocks"])
    pages = [
        c.query.get("offset") for c in stack.pagerduty.calls if c.path == f"/incidents/{PD}/alerts"
    ]
    assert "100" in pages


async def test_oncall_and_assignees_are_invited(stack: DevStack) -> None:
    pd, slack = stack.pagerduty, stack.slack
    olga = slack.add_user("olga@example.com", "U0OLGA001", name="olga")
    asha = slack.add_user("asha@example.com", "U0ASHA001", name="asha")
    bob = slack.add_user("bob@example.com", "U0BOB0001", name="bob")
    rita = slack.add_user("rita@example.com", "U0RITA001", name="rita")
    pd.add_user("POLGA01", "Olga Oncall", "olga@example.com")
    pd.add_user("PNOSLK1", "No Slack", "nobody@example.com")  # on call, not in Slack
    pd.add_user("PASHA01", "Asha Assignee", "asha@example.com")
    pd.add_user("PBOB001", "Bob Builder", "bob@example.com")
    pd.add_user("PRITA01", "Rita Responder", "rita@example.com")
    pd.add_oncall("POLGA01", escalation_policy_id="PEPCHK")
    pd.add_oncall("PNOSLK1", escalation_policy_id="PEPCHK", escalation_level=2)
    pd.add_oncall("PBOB001", escalation_policy_id="POTHER")  # another policy
    seed_incident(stack, escalation_policy_id="PEPCHK", assignees=[{"id": "PASHA01"}])
    await deliver(stack, "incident.triggered")
    [inc] = await incidents(stack)
    channel = inc.channel_id
    assert {olga, asha} <= invited(stack, channel)
    assert bob not in invited(stack, channel)
    assert any(olga in m["text"] and "on-call" in m["text"] for m in slack.messages(channel))

    # Escalated to Bob: he is invited.
    bob_ref = ref("user", "PBOB001", "Bob Builder", "users")
    escalated = pd.webhook_event("incident.escalated", PD, data_extra={"assignees": [bob_ref]})
    await stack.pagerduty_webhook(escalated)
    await stack.settle()
    assert bob in invited(stack, channel)
    # Escalated back to Olga, already in: no second invitation message.
    olga_ref = ref("user", "POLGA01", "Olga Oncall", "users")
    back = pd.webhook_event("incident.escalated", PD, data_extra={"assignees": [olga_ref]})
    await stack.pagerduty_webhook(back)
    await stack.settle()
    invitations = [m["text"] for m in slack.messages(channel) if "Invited" in m["text"]]
    assert len(invitations) == 2, invitations  # on-call at open, then Bob

    # A responder request adds Rita (the event's data is an incident_responder).
    responder = pd.webhook_event("incident.responder.added", PD)
    responder["event"]["data"] = {
        "incident": {"id": PD, "type": "incident_reference"},
        "user": ref("user", "PRITA01", "Rita Responder", "users"),
        "escalation_policy": None,
        "message": "Please help with the payments queue",
        "state": "pending",
        "type": "incident_responder",
    }
    await stack.pagerduty_webhook(responder)
    await stack.settle()
    assert rita in invited(stack, channel)
    texts = [e.text for e in await timeline(stack)]
    assert "PagerDuty: escalated → Bob Builder" in texts
    assert any("responder added: Rita Responder (pending)" in t for t in texts)


async def test_oncall_lookup_failure_never_blocks_the_incident(stack: DevStack) -> None:
    stack.slack.add_user("olga@example.com", "U0OLGA001", name="olga")
    stack.pagerduty.add_user("POLGA01", "Olga Oncall", "olga@example.com")
    stack.pagerduty.add_oncall("POLGA01")
    stack.pagerduty.fail_next("/oncalls", status=500, times=20)
    seed_incident(stack)
    await deliver(stack, "incident.triggered")
    [inc] = await incidents(stack)
    assert inc.channel_id
    assert "U0OLGA001" not in invited(stack, inc.channel_id)
    assert "INC-1 Observe" in "\n".join(m["text"] for m in stack.slack.messages(inc.channel_id))


async def test_status_update_published_goes_on_the_timeline(stack: DevStack) -> None:
    seed_incident(stack)
    await deliver(stack, "incident.triggered")
    update = stack.pagerduty.webhook_event("incident.status_update_published", PD)
    update["event"]["data"] = {
        "id": "PSTATUS",
        "type": "incident_status_update",
        "incident": {"id": PD, "type": "incident_reference"},
        "message": "Mitigated; monitoring",
        "sender": ref("user", "PALICE1", "Alice Example", "users"),
    }
    await stack.pagerduty_webhook(update)
    await stack.settle()
    texts = [e.text for e in await timeline(stack)]
    assert "PagerDuty: status update: Mitigated; monitoring" in texts


async def test_assignees_and_oncall_come_from_one_fetch(stack: DevStack) -> None:
    pd, slack = stack.pagerduty, stack.slack
    olga = slack.add_user("olga@example.com", "U0OLGA001", name="olga")
    asha = slack.add_user("asha@example.com", "U0ASHA001", name="asha")
    pd.add_user("POLGA01", "Olga Oncall", "olga@example.com")
    pd.add_user("PASHA01", "Asha Assignee", "asha@example.com")
    pd.add_oncall("POLGA01", escalation_policy_id="PEPCHK")
    seed_incident(stack, escalation_policy_id="PEPCHK", assignees=[{"id": "PASHA01"}])
    await deliver(stack, "incident.triggered")
    view = await load_incident(stack.runtime, 1)
    assert view is not None and view.channel_id

    def fetches() -> int:
        return sum(1 for c in pd.calls if c.method == "GET" and c.path == f"/incidents/{PD}")

    before = fetches()
    await responders.invite_assignees_and_oncall(stack.runtime, view)
    assert fetches() - before == 1
    assert {olga, asha} <= invited(stack, view.channel_id)
