"""A change's summary (a GitHub deployment description) never reaches Slack unescaped, not even
in a message's fallback `text` (what notifications show)."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.demo import DemoIncident, Step
from bot.domain.model import utcnow
from tests.helpers.decide_act import config_with
from tests.helpers.stack import MakeStack

HOSTILE = "<!channel> hotfix by <@U0EVE0001>"


async def test_hostile_deployment_description_is_escaped_in_orient_text(
    make_stack: MakeStack,
) -> None:
    async with make_stack(config_with()) as stack:
        now = utcnow()
        demo = DemoIncident(stack, now=now)
        stack.github.add_deployment(
            "acme/checkout",
            sha="bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0",
            created_at=now - timedelta(minutes=5),  # two minutes before the first alert
            description=HOSTILE,
        )
        await demo.play(through=Step.PAGE)

        orient = [m for m in stack.slack.messages() if m["text"].startswith("INC-1 Orient")]
        assert orient, [m["text"] for m in stack.slack.messages()]
        assert orient[-1]["text"].endswith("top: &lt;!channel&gt; hotfix by &lt;@U0EVE0001&gt;")
        sent = "\n".join(
            json.dumps(c.params, ensure_ascii=False)
            for c in stack.slack.calls()
            if c.method.startswith("chat.")
        )
        assert "<!channel>" not in sent and "<@U0EVE0001>" not in sent
