"""A change's summary (a GitHub deployment description) never reaches Slack unescaped, not even
in a message's fallback `text` (what notifications show)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from bot.demo import seed_scenario
from bot.devstack import DevStack
from bot.domain.model import utcnow
from tests.helpers.decide_act import config_with

HOSTILE = "<!channel> hotfix by <@U0EVE0001>"


async def test_hostile_deployment_description_is_escaped_in_orient_text(
    tmp_path: Path, database_url: str
) -> None:
    async with DevStack(tmp_path, config=config_with(), database_url=database_url) as stack:
        now = utcnow()
        scenario = seed_scenario(stack, now=now)
        stack.github.add_deployment(
            "acme/checkout",
            sha="bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0",
            created_at=now - timedelta(minutes=5),  # two minutes before the first alert
            description=HOSTILE,
        )
        assert (await stack.pagerduty_webhook(scenario.triggered)).status_code == 202
        await stack.settle()

        orient = [m for m in stack.slack.messages() if m["text"].startswith("INC-1 Orient")]
        assert orient, [m["text"] for m in stack.slack.messages()]
        assert orient[-1]["text"].endswith("top: &lt;!channel&gt; hotfix by &lt;@U0EVE0001&gt;")
        sent = "\n".join(
            json.dumps(c.params, ensure_ascii=False)
            for c in stack.slack.calls()
            if c.method.startswith("chat.")
        )
        assert "<!channel>" not in sent and "<@U0EVE0001>" not in sent
