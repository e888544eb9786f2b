"""PagerDuty events sent right after the trigger, with no pause: escalated, then three notes.
Every one of them lands on the timeline and in the channel, once each, in the order sent —
although the channel does not exist yet when most of them are applied."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from bot.devstack import DevStack
from bot.fakes.pagerduty_webhooks import ref
from tests.helpers.pagerduty import timeline

INCIDENTS = 20
CONFIG = {
    "services": [
        {"name": f"svc{n}", "pagerduty_service_ids": [f"PSVC{n:02d}"]} for n in range(INCIDENTS)
    ]
}


@pytest.fixture
def stack_config() -> dict[str, Any]:
    return CONFIG


@pytest.mark.timeout(600)
async def test_a_burst_after_the_trigger_arrives_whole_and_in_order(stack: DevStack) -> None:
    pd = stack.pagerduty
    pd.add_user("PBOB001", "Bob Builder", "bob@example.com")
    bob = ref("user", "PBOB001", "Bob Builder", "users")
    bursts = []
    for n in range(INCIDENTS):
        pd_id = f"PBURST{n:02d}"
        pd.add_incident(
            pd_id,
            number=500 + n,
            title=f"svc{n} down",
            service_id=f"PSVC{n:02d}",
            service_name=f"svc{n}",
        )
        pd.add_alert(pd_id, summary=f"svc{n} 5xx")
        events = [pd.webhook_event("incident.triggered", pd_id)]
        events.append(
            pd.webhook_event("incident.escalated", pd_id, data_extra={"assignees": [bob]})
        )
        events += [
            pd.webhook_event(
                "incident.annotated", pd_id, data_extra={"content": f"svc{n} note {k}"}
            )
            for k in range(3)
        ]
        bursts.append(events)

    async def send(events: list[dict]) -> None:
        for event in events:  # back to back, no pause, no waiting for the bot
            assert (await stack.pagerduty_webhook(event)).status_code in (200, 202)

    await asyncio.gather(*(send(events) for events in bursts))
    await stack.settle(timeout=480)  # a bound, not a wait: 100 events at -n 8 beside a hog

    in_order = 0
    for n in range(INCIDENTS):
        [chan] = [c for c in stack.slack.channels if c["name"].endswith(f"-svc{n}-down")]
        said = [m["text"] for m in stack.slack.messages(chan["id"])]
        notes = [int(m.group(1)) for t in said if (m := re.search(rf"svc{n} note (\d)", t))]
        escalated = [i for i, t in enumerate(said) if "PagerDuty: escalated" in t]
        first_note = next(i for i, t in enumerate(said) if f"svc{n} note" in t)
        number = next(int(m.group(1)) for t in said if (m := re.match(r"INC-(\d+) Observe", t)))
        kinds = [e.kind for e in await timeline(stack, number) if e.kind != "context"]
        texts = [e.text for e in await timeline(stack, number) if e.kind == "note"]
        assert kinds[:2] == ["opened", "pagerduty"], kinds
        if (
            notes == [0, 1, 2]
            and len(escalated) == 1
            and escalated[0] < first_note
            and texts == [f"svc{n} note {k}" for k in range(3)]
        ):
            in_order += 1
    assert in_order == INCIDENTS
