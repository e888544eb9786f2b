"""SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are the console's Sign in with Slack credentials:
with both in the environment slack_bolt would switch itself into multi-workspace OAuth mode
(every command answered "AuthorizeResult not found"). The bot stays a single-workspace app on
its bot token: the whole demo plays, and `/incident declare` opens a channel."""

from __future__ import annotations

import os

import pytest

from bot.demo import CONFIG, DemoIncident
from tests.helpers.stack import FAST_VERIFY, MakeStack

CONSOLE_ENV = {"SLACK_CLIENT_ID": "1234.5678", "SLACK_CLIENT_SECRET": "console-client-secret"}


@pytest.mark.db
async def test_demo_plays_with_oauth_credentials_in_the_environment(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CONSOLE_ENV.items():
        monkeypatch.setenv(name, value)  # where slack_bolt looks for them
    async with make_stack(CONFIG, env=FAST_VERIFY | CONSOLE_ENV) as stack:
        demo = await DemoIncident(stack).play()
        assert "# INC-1" in demo.postmortem
        assert [d["workflow"] for d in stack.github.dispatches] == ["rollback.yml"]

        before = {c["id"] for c in stack.slack.channels}
        general = stack.slack.add_channel("general")["id"]
        answer = await stack.command(
            "declare Search is slow", user=demo.scenario.bob, channel=general
        )
        assert answer.status_code == 200
        await stack.settle()
        opened = [c["name"] for c in stack.slack.channels if c["id"] not in before]
        assert any(name.startswith("inc-2-search-is-slow") for name in opened), opened
    # the environment is as the test set it: the variables were hidden only while Bolt was built
    assert {name: os.environ.get(name) for name in CONSOLE_ENV} == CONSOLE_ENV
