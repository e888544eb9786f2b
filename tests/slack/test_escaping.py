"""User text never reaches Slack unescaped: a title of `<!channel> hi` pings nobody."""

from __future__ import annotations

import json

from bot.devstack import DevStack
from tests.helpers.slack import ALICE, BOB, general_id, reaction, slack_event

HOSTILE = ("<!channel>", "<!here>", "<!everyone>", "<@U0EVE0001>", "<https://evil.example|x>")


def every_call_text(stack: DevStack) -> str:
    return "\n".join(json.dumps(c.params, ensure_ascii=False) for c in stack.slack.calls())


async def test_declared_title_and_notes_are_escaped_everywhere(stack: DevStack) -> None:
    title = "<!channel> hi & <!here> <@U0EVE0001> <https://evil.example|x>"
    await stack.command(f"declare {title}", user=ALICE, channel=general_id(stack))
    await stack.settle()
    # Command text is read back to plain words (mentions and links as text), then escaped out.
    channel = stack.slack.channel_by_name("inc-1-channel-hi-here-u0eve0001-x-https-evil-example")
    assert channel is not None, [c["name"] for c in stack.slack.channels]
    await stack.command("note <!everyone> look at this", user=ALICE, channel=channel["id"])
    await stack.command("sev 1", user=ALICE, channel=channel["id"])
    await stack.command("status", user=ALICE, channel=channel["id"])
    ts = stack.slack.user_says(channel["id"], BOB, "<!channel> pinned by hand")
    await slack_event(
        stack, reaction("reaction_added", user=ALICE, channel=channel["id"], ts=ts), event_id="X1"
    )
    await stack.settle()
    await stack.command("timeline", user=ALICE, channel=channel["id"])
    await stack.command("resolve <!channel> fixed", user=ALICE, channel=channel["id"])
    await stack.settle()

    sent = every_call_text(stack)
    for hostile in HOSTILE:
        assert hostile not in sent, hostile
    # It was shown, escaped: visible, harmless.
    assert "&lt;!channel&gt; hi &amp; &lt;!here&gt; @U0EVE0001 x (https://evil.example)" in sent
    assert "&lt;!everyone&gt; look at this" in sent
    assert "&lt;!channel&gt; pinned by hand" in sent  # a 📌 message, quoted escaped
    topic = stack.slack.channel(channel["id"])["topic"]["value"]  # type: ignore[index]
    assert "<!channel>" not in topic and "&lt;!channel&gt; hi &amp; &lt;!here&gt;" in topic
