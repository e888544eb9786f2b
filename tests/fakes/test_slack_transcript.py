from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.fakes import FakeSlack
from bot.fakes.slack_render import blocks, mrkdwn

CARD = [
    {"type": "header", "text": {"type": "plain_text", "text": "INC-42 · Checkout errors"}},
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Observe* — 5xx on checkout &amp; cart"},
        "fields": [
            {"type": "mrkdwn", "text": "*Severity*\nSEV1"},
            {"type": "mrkdwn", "text": "*Commander*\n<@U0ALICE001>"},
        ],
    },
    {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "<https://pd.example/i/1|PagerDuty #1>"}],
    },
    {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}},
            {"type": "button", "text": {"type": "plain_text", "text": "Roll back"}},
        ],
    },
]


async def test_transcript_reads_like_the_incident(slack: FakeSlack) -> None:
    web = AsyncWebClient(token="xoxb-test", base_url=f"{slack.url}/api/")
    cid = (await web.conversations_create(name="inc-42-checkout-errors"))["channel"]["id"]
    await web.chat_postMessage(channel="#incidents", text=f"INC-42 declared in <#{cid}>")
    await web.conversations_setTopic(channel=cid, topic="SEV1 · Observe")
    await web.conversations_invite(channel=cid, users="U0ALICE001,U0BOB00001")
    card = await web.chat_postMessage(channel=cid, text="INC-42", blocks=CARD)
    await web.pins_add(channel=cid, timestamp=card["ts"])
    await web.chat_postMessage(channel=cid, text="thread reply", thread_ts=card["ts"])
    await web.chat_update(
        channel=cid,
        ts=card["ts"],
        text="INC-42",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Orient* — 2 changes"}}],
    )
    await web.chat_postEphemeral(channel=cid, user="U0BOB00001", text="Only commanders may do that")
    await web.views_open(
        trigger_id="1.2",
        view={
            "type": "modal",
            "title": {"type": "plain_text", "text": "Declare incident"},
            "submit": {"type": "plain_text", "text": "Declare"},
            "blocks": [
                {
                    "type": "input",
                    "label": {"type": "plain_text", "text": "Title"},
                    "element": {"type": "plain_text_input", "action_id": "t"},
                }
            ],
        },
    )
    await web.files_upload_v2(
        channel=cid, content="# PM", filename="pm.md", title="Postmortem INC-42"
    )

    lines = slack.transcript().splitlines()
    assert lines == [
        "#inc-42-checkout-errors: (channel created by @ooda-bot)",
        "#incidents: INC-42 declared in #inc-42-checkout-errors",
        "#inc-42-checkout-errors: (topic) SEV1 · Observe",
        "#inc-42-checkout-errors: (invited @alice, @bob)",
        "#inc-42-checkout-errors: == INC-42 · Checkout errors ==",
        "    *Observe* — 5xx on checkout & cart",
        "    *Severity* SEV1 | *Commander* @alice",
        "    PagerDuty #1 (https://pd.example/i/1)",
        "    [Acknowledge] [Roll back]",
        "#inc-42-checkout-errors: (pinned) == INC-42 · Checkout errors ==",
        "#inc-42-checkout-errors: (in thread) thread reply",
        "#inc-42-checkout-errors: (updated) *Orient* — 2 changes",
        "#inc-42-checkout-errors: (ephemeral to @bob) Only commanders may do that",
        '(modal opened) "Declare incident"',
        "    Title: [plain_text_input]",
        "    [Declare]",
        '#inc-42-checkout-errors: (file) "Postmortem INC-42" pm.md, 4 bytes',
    ]
    stamped = slack.transcript(timestamps=True).splitlines()
    assert stamped[0][2] == ":" and stamped[0].endswith("(channel created by @ooda-bot)")


def test_render_helpers_handle_selects_images_and_unknown_blocks() -> None:
    assert mrkdwn("<!here> see <https://x.io> &lt;b&gt;") == "@here see https://x.io <b>"
    lines = blocks(
        [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Pick"},
                "accessory": {
                    "type": "static_select",
                    "placeholder": {"type": "plain_text", "text": "Severity"},
                },
            },
            {"type": "image", "alt_text": "graph", "image_url": "https://x/y.png"},
            {"type": "divider"},
            {"type": "video"},
        ]
    )
    assert lines == ["Pick", "[Severity ▾]", "[image: graph]", "---", "[video]"]
