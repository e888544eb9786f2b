from __future__ import annotations

import asyncio
import re
import threading

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.fakes import FakeSlack

BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "INC-42 checkout errors"}},
    {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Ack"}, "action_id": "ack"}
        ],
    },
]


def client(slack: FakeSlack, *handlers: AsyncRetryHandler) -> AsyncWebClient:
    return AsyncWebClient(
        token="xoxb-test", base_url=f"{slack.url}/api/", retry_handlers=list(handlers)
    )


async def test_post_message_with_blocks_is_recorded_parsed_and_stored(slack: FakeSlack) -> None:
    web = client(slack)
    first = await web.chat_postMessage(channel="#incidents", text="fallback", blocks=BLOCKS)
    second = await web.chat_postMessage(channel="incidents", text="second")

    assert re.fullmatch(r"\d{10}\.\d{6}", first["ts"])
    assert float(second["ts"]) > float(first["ts"])
    chan = slack.channel_by_name("incidents")
    assert chan is not None and first["channel"] == chan["id"]
    assert first["message"]["blocks"] == BLOCKS

    call = slack.calls("chat.postMessage")[0]
    assert call.params["blocks"] == BLOCKS  # JSON decoded for easy asserting
    assert call.params["channel"] == "#incidents" and call.ok

    msgs = slack.messages("#incidents")
    assert [m["text"] for m in msgs] == ["fallback", "second"]
    assert msgs[0]["ts"] == first["ts"] and msgs[0]["blocks"] == BLOCKS
    assert msgs[0]["thread_ts"] is None


async def test_chat_update_edits_the_stored_message(slack: FakeSlack) -> None:
    web = client(slack)
    posted = await web.chat_postMessage(channel="#incidents", text="v1", blocks=BLOCKS)
    await web.chat_update(channel=posted["channel"], ts=posted["ts"], text="v2")
    [msg] = slack.messages("incidents")
    assert msg["text"] == "v2" and msg["edited"]
    assert msg["blocks"] == BLOCKS  # omitted blocks are kept, as in Slack
    await web.chat_update(channel=posted["channel"], ts=posted["ts"], text="v3", blocks=[])
    assert slack.messages("incidents")[0]["blocks"] is None

    with pytest.raises(SlackApiError) as err:
        await web.chat_update(channel=posted["channel"], ts="1.000000", text="nope")
    assert err.value.response["error"] == "message_not_found"


async def test_conversations_create_validates_names_and_reports_name_taken(
    slack: FakeSlack,
) -> None:
    web = client(slack)
    created = await web.conversations_create(name="inc-42-checkout-errors")
    channel = created["channel"]
    assert channel["id"].startswith("C") and channel["name"] == "inc-42-checkout-errors"
    assert channel["is_member"] is True

    for name, error in [
        ("inc-42-checkout-errors", "name_taken"),
        ("x" * 81, "invalid_name_maxlength"),
        ("Has Caps", "invalid_name_specials"),
        ("has space", "invalid_name_specials"),
    ]:
        with pytest.raises(SlackApiError) as err:
            await web.conversations_create(name=name)
        assert err.value.response["error"] == error, name
    assert (await web.conversations_create(name="x" * 80))["ok"]

    info = await web.conversations_info(channel=channel["id"])
    assert info["channel"]["name"] == "inc-42-checkout-errors"
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await web.conversations_info(channel="C000000000")


async def test_topic_invite_join_pin_react_and_lookups(slack: FakeSlack) -> None:
    web = client(slack)
    cid = (await web.conversations_create(name="inc-7"))["channel"]["id"]
    await web.conversations_setTopic(channel=cid, topic="SEV2 · checkout")
    await web.conversations_invite(channel=cid, users="U0ALICE001,U0BOB00001")
    with pytest.raises(SlackApiError, match="already_in_channel"):
        await web.conversations_invite(channel=cid, users="U0ALICE001")
    assert (await web.conversations_join(channel=cid))["warning"] == "already_in_channel"

    ts = (await web.chat_postMessage(channel=cid, text="summary"))["ts"]
    await web.pins_add(channel=cid, timestamp=ts)
    with pytest.raises(SlackApiError, match="already_pinned"):
        await web.pins_add(channel=cid, timestamp=ts)
    await web.reactions_add(channel=cid, timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError, match="already_reacted"):
        await web.reactions_add(channel=cid, timestamp=ts, name="eyes")
    await web.reactions_remove(channel=cid, timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError, match="no_reaction"):
        await web.reactions_remove(channel=cid, timestamp=ts, name="eyes")

    chan = slack.channel_by_name("inc-7")
    assert chan is not None
    assert chan["topic"]["value"] == "SEV2 · checkout"
    assert {"U0ALICE001", "U0BOB00001"} <= set(chan["members"])
    assert chan["pinned"] == [ts] and slack.messages(cid)[0]["pinned"]

    user = await web.users_lookupByEmail(email="alice@example.com")
    assert user["user"]["id"] == "U0ALICE001"
    with pytest.raises(SlackApiError, match="users_not_found"):
        await web.users_lookupByEmail(email="nobody@example.com")
    assert (await web.users_info(user="U0BOB00001"))["user"]["name"] == "bob"

    history = await web.conversations_history(channel=cid)
    assert [m["text"] for m in history["messages"]] == ["summary"]
    link = await web.chat_getPermalink(channel=cid, message_ts=ts)
    assert link["permalink"].endswith(ts.replace(".", ""))


async def test_files_upload_v2_goes_through_the_three_steps(slack: FakeSlack) -> None:
    web = client(slack)
    cid = (await web.conversations_create(name="inc-9"))["channel"]["id"]
    result = await web.files_upload_v2(
        channel=cid,
        content="# Postmortem\n\nAll good.",
        filename="postmortem-inc-9.md",
        title="Postmortem INC-9",
        initial_comment="Postmortem draft attached",
    )
    assert result["file"]["title"] == "Postmortem INC-9"
    [upload_url_call] = slack.calls("files.getUploadURLExternal")
    assert upload_url_call.params["filename"] == "postmortem-inc-9.md"
    [complete] = slack.calls("files.completeUploadExternal")
    assert complete.params["channel_id"] == cid
    assert complete.params["files"][0]["title"] == "Postmortem INC-9"

    [stored] = slack.files
    assert stored["channel"] == cid and stored["title"] == "Postmortem INC-9"
    assert stored["content"] == b"# Postmortem\n\nAll good."
    assert stored["text"] == "# Postmortem\n\nAll good."
    assert stored["initial_comment"] == "Postmortem draft attached"


async def test_rate_limit_is_retried_by_the_sdk_retry_handler(slack: FakeSlack) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=0)
    web = client(slack, AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    response = await web.chat_postMessage(channel="#incidents", text="after a 429")
    assert response["ok"]
    attempts = slack.calls("chat.postMessage")
    assert [(c.status, c.error) for c in attempts] == [(429, "ratelimited"), (200, None)]
    assert [m["text"] for m in slack.messages("incidents")] == ["after a 429"]


async def test_injected_failures_without_retry_surface_as_errors(slack: FakeSlack) -> None:
    web = client(slack)
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await web.chat_postMessage(channel="#incidents", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] in ("7", ["7"])

    slack.fail_next("conversations.create", status=500, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError):
            await web.conversations_create(name="inc-1")
    assert (await web.conversations_create(name="inc-1"))["ok"]

    slack.fail_next("chat.postMessage", status=200, error="channel_not_found")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await web.chat_postMessage(channel="#incidents", text="x")
    assert slack.messages() == []


async def test_auth_and_unknown_methods(slack: FakeSlack) -> None:
    async with httpx.AsyncClient(base_url=f"{slack.url}/api") as http:
        missing = await http.post("/chat.postMessage", json={"channel": "#incidents", "text": "x"})
        assert missing.status_code == 200
        assert missing.json() == {"ok": False, "error": "not_authed"}
        legacy = await http.post("/auth.test", data={"token": "xoxb-form"})
        assert legacy.json()["user_id"] == "U0BOT00001"
    with pytest.raises(SlackApiError, match="unknown_method"):
        await client(slack).api_call("admin.teams.create")
    assert slack.calls("admin.teams.create")[0].error == "unknown_method"
    assert slack.calls("auth.test")[0].params == {}  # the token is never recorded

    strict = FakeSlack(token="xoxb-right")
    with strict, pytest.raises(SlackApiError, match="invalid_auth"):
        await client(strict).auth_test()


async def test_channel_membership_rules(slack: FakeSlack) -> None:
    slack.add_channel("announcements", is_member=False)
    web = client(slack)
    with pytest.raises(SlackApiError, match="not_in_channel"):
        await web.chat_postMessage(channel="#announcements", text="x")
    await web.conversations_join(channel="announcements")
    assert (await web.chat_postMessage(channel="#announcements", text="x"))["ok"]
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await web.chat_postMessage(channel="#nope", text="x")
    dm = await web.chat_postMessage(channel="U0ALICE001", text="psst")
    assert dm["channel"].startswith("D")


async def test_ephemeral_views_and_response_url(slack: FakeSlack) -> None:
    web = client(slack)
    await web.chat_postEphemeral(channel="#incidents", user="U0ALICE001", text="only you")
    assert slack.ephemerals("incidents")[0]["user"] == "U0ALICE001"
    assert slack.messages("incidents") == []

    view = {"type": "modal", "title": {"type": "plain_text", "text": "Declare"}, "blocks": []}
    opened = await web.views_open(trigger_id="123.456", view=view)
    view_id = opened["view"]["id"]
    await web.views_update(
        view_id=view_id, view={**view, "title": {"type": "plain_text", "text": "Declared"}}
    )
    assert slack.views[0]["title"]["text"] == "Declared"
    with pytest.raises(SlackApiError, match="not_found"):
        await web.views_update(view_id="V0NOPE", view=view)

    url = slack.response_url("tok-1")
    assert url == f"{slack.url}/response/tok-1"
    webhook = AsyncWebhookClient(url)
    sent = await webhook.send(text="Declared INC-1", response_type="in_channel")
    assert sent.status_code == 200
    [call] = slack.calls("response_url")
    assert call.params["text"] == "Declared INC-1" and call.params["token"] == "tok-1"


async def test_wait_for_returns_the_value_or_times_out_with_a_dump(slack: FakeSlack) -> None:
    web = client(slack)

    async def later() -> None:
        await asyncio.sleep(0.05)
        await web.chat_postMessage(channel="#incidents", text="eventually")

    task = asyncio.create_task(later())
    msgs = await slack.wait_for(lambda s: s.messages("incidents"), timeout=5)
    await task
    assert msgs[0]["text"] == "eventually"

    with pytest.raises(TimeoutError) as err:
        await slack.wait_for(lambda s: len(s.messages()) > 5, timeout=0.1)
    assert "#incidents: eventually" in str(err.value)
    assert "chat.postMessage -> ok" in str(err.value)


def test_wait_for_sync_sees_calls_made_from_another_thread(slack: FakeSlack) -> None:
    def post() -> None:
        asyncio.run(client(slack).chat_postMessage(channel="#incidents", text="from a thread"))

    thread = threading.Thread(target=post)
    thread.start()
    slack.wait_for_sync(lambda s: s.messages("incidents"), timeout=5)
    thread.join()
    assert slack.calls("chat.postMessage")[0].ok


async def test_concurrent_posts_get_unique_increasing_ts(slack: FakeSlack) -> None:
    web = client(slack)
    results = await asyncio.gather(
        *(web.chat_postMessage(channel="#incidents", text=str(i)) for i in range(20))
    )
    stamps = [r["ts"] for r in results]
    assert len(set(stamps)) == 20
    stored = [m["ts"] for m in slack.messages("incidents")]
    assert stored == sorted(stored, key=float)
