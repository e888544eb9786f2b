"""Declare and resolve modals end to end, invites (declarer, PagerDuty assignees by email) and
the announcements channel on open, severity change and resolve."""

from __future__ import annotations

from bot.devstack import DevStack
from bot.domain.model import Status
from bot.service.incidents import load
from tests.helpers.slack import ALICE, BOB, CAROL, announce_id, general_id, responses, texts


async def test_declare_without_title_opens_the_modal_and_submit_opens_the_incident(
    stack: DevStack,
) -> None:
    origin = general_id(stack)
    await stack.command("declare", user=ALICE, channel=origin)
    await stack.settle()
    [modal] = stack.slack.views
    assert modal["callback_id"] == "declare"
    assert {b["block_id"] for b in modal["blocks"]} >= {"title", "severity", "service"}

    # An empty title goes back into the modal as an error; nothing is opened.
    rejected = await stack.submit(modal, {"title": "  ", "severity": "SEV2"}, user=ALICE)
    assert rejected.json()["response_action"] == "errors"
    assert await load(stack.runtime, 1) is None

    accepted = await stack.submit(
        modal,
        {
            "title": "Payments failing",
            "severity": "SEV2",
            "service": "checkout",
            "description": "d",
        },
        user=ALICE,
    )
    assert accepted.status_code == 200
    await stack.settle()
    inc = await load(stack.runtime, 1)
    assert inc is not None and inc.title == "Payments failing"
    assert (inc.severity.label, inc.service, inc.roles) == (
        "SEV2",
        "checkout",
        {"commander": ALICE},
    )
    channel = stack.slack.channel(inc.channel_id or "")
    assert channel is not None and ALICE in channel["members"]
    assert any("INC-1 opened" in t for t in texts(stack, announce_id(stack)))
    assert any("INC-1 opened" in t for t in texts(stack, origin))  # where it was declared


async def test_resolve_modal_stores_summary_impact_and_root_cause(stack: DevStack) -> None:
    await stack.command("declare Search slow", user=ALICE, channel=general_id(stack))
    await stack.settle()
    inc = await load(stack.runtime, 1)
    assert inc is not None and inc.channel_id
    await stack.command("sev 2", user=ALICE, channel=inc.channel_id)
    await stack.command("resolve", user=ALICE, channel=inc.channel_id)
    await stack.settle()
    modal = next(v for v in stack.slack.views if v["callback_id"] == "resolve")
    await stack.submit(
        modal,
        {"summary": "Index rebuilt", "impact": "Search p99 8s for 20 min", "root_cause": "GC"},
        user=ALICE,
    )
    await stack.settle()
    done = await load(stack.runtime, 1)
    assert done is not None and done.status is Status.RESOLVED
    assert (done.summary, done.impact, done.root_cause) == (
        "Index rebuilt",
        "Search p99 8s for 20 min",
        "GC",
    )
    announced = texts(stack, announce_id(stack))
    assert [t for t in announced if "INC-1 opened" in t]
    assert [t for t in announced if "severity SEV3 → *SEV2*" in t]
    [resolved] = [t for t in announced if "INC-1 resolved" in t]  # once, with the postmortem
    assert ":page_facing_up: Postmortem:" in resolved
    assert not [t for t in announced if "INC-1 postmortem" in t]


async def test_pagerduty_assignees_are_invited_by_email(stack: DevStack) -> None:
    pd = stack.pagerduty
    pd.add_user("PBOB001", "Bob Example", "bob@example.com")
    pd.add_user("PCAROL1", "Carol Example", "carol@example.com")
    pd.add_user("PNOSLK1", "Nobody In Slack", "ghost@example.com")
    pd.add_incident(
        "PINVITE",
        number=7,
        title="Checkout latency",
        service_id="PCHK",
        service_name="checkout",
        assignees=[{"id": "PNOSLK1"}, {"id": "PBOB001"}, {"id": "PGONE01"}, {"id": "PCAROL1"}],
    )
    response = await stack.pagerduty_webhook(pd.webhook_event("incident.triggered", "PINVITE"))
    assert response.status_code == 202
    await stack.settle()
    inc = await load(stack.runtime, 1)
    assert inc is not None and inc.channel_id
    members = stack.slack.channel(inc.channel_id)["members"]  # type: ignore[index]
    assert BOB in members and CAROL in members  # the unknown users did not stop the others
    looked_up = {c.params.get("email") for c in stack.slack.calls("users.lookupByEmail")}
    assert {"bob@example.com", "carol@example.com", "ghost@example.com"} <= looked_up
    assert not [r for r in responses(stack) if "went wrong" in r]
