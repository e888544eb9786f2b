"""The incident page's live timeline (Server-Sent Events): a note sent from Slack arrives on
an open stream without asking again, once, and a reconnect resumes after the last entry."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.demo import CONFIG, DemoIncident, Step
from tests.helpers.console import CONSOLE_ENV, signed_in
from tests.helpers.stack import MakeStack

pytestmark = pytest.mark.db


async def entries(response: httpx.Response) -> AsyncIterator[tuple[int, str]]:
    """(id, html) of each `entry` event on the stream."""
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if event.get("event") == "entry":
                yield int(event["id"]), json.loads(event["data"])
            event = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")


async def first_entry_with(response: httpx.Response, text: str) -> tuple[int, str]:
    async def scan() -> tuple[int, str]:
        async for entry_id, html in entries(response):
            if text in html:
                return entry_id, html
        raise AssertionError("the stream ended first")

    return await asyncio.wait_for(scan(), timeout=15)


async def test_a_note_from_slack_arrives_on_the_open_stream(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG, env=CONSOLE_ENV) as stack:
        demo = await DemoIncident(stack).play(through=Step.ACKNOWLEDGE)
        alice = demo.scenario.alice
        async with signed_in(stack, alice) as client:
            page = (await client.get("/ui/incidents/1")).text
            live = re.search(r'data-live="([^"]+)"', page)
            assert live is not None
            async with client.stream("GET", live.group(1).replace("&amp;", "&")) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                said = await stack.command(
                    "note db failover <started>", user=alice, channel=demo.channel
                )
                assert said.status_code == 200
                entry_id, html = await first_entry_with(stream, "db failover")
                assert "db failover &lt;started&gt;" in html and "alice" in html.lower()
            # a reconnect names the last entry it had (Last-Event-ID): only newer ones follow
            headers = {"Last-Event-ID": str(entry_id)}
            async with client.stream("GET", "/ui/incidents/1/live", headers=headers) as again:
                await stack.command("note second note", user=alice, channel=demo.channel)
                newer_id, html = await first_entry_with(again, "note")
                assert newer_id > entry_id and "second note" in html
