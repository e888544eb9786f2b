"""Under 429s, messages to one channel keep their order and all arrive."""

from __future__ import annotations

import asyncio

from bot.fakes.slack_api import FakeSlack
from bot.slack.out.gateway import SlackGateway, build_web_client


async def test_messages_to_one_channel_stay_in_order_under_429() -> None:
    fake = FakeSlack(token="xoxb-test")
    fake.start()
    try:
        channel = fake.add_channel("inc-1-ordering")["id"]
        gateway = SlackGateway(build_web_client("xoxb-test", f"{fake.url}/api/"))
        fake.fail_next("chat.postMessage", status=429, retry_after=1)
        # Sent concurrently: the first is rate limited and retried after Retry-After; the
        # others queue behind it on the channel instead of overtaking it.
        await asyncio.gather(*(gateway.post(channel, f"step {n}") for n in range(5)))
    finally:
        fake.stop()
    assert [m["text"] for m in fake.messages(channel)] == [f"step {n}" for n in range(5)]
    posts = fake.calls("chat.postMessage")
    assert [c.status for c in posts] == [429, 200, 200, 200, 200, 200]
    assert posts[0].params["text"] == posts[1].params["text"] == "step 0"
