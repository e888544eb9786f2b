"""Bad input gets a clear answer and loses nothing; failing upstreams degrade, never block."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.demo import CONFIG, DemoIncident, Step, seed_scenario
from bot.devstack import DevStack, slack_signature
from bot.domain.model import utcnow
from bot.storage.tables import InboundEvent, Incident, TimelineRow
from tests.helpers.stack import MakeStack


def _mrkdwn(node: object) -> list[str]:
    """Every string Slack parses as mrkdwn: message `text` and mrkdwn text objects (plain_text
    objects never ping, so they may carry the raw characters)."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") != "plain_text":
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    found.extend(_mrkdwn(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_mrkdwn(item))
    return found


async def _count(stack: DevStack, table: type) -> int:
    async with stack.runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_pagerduty_down_incident_still_opens_and_says_what_is_missing(
    make_stack: MakeStack,
) -> None:
    async with make_stack(CONFIG) as stack:
        demo = DemoIncident(stack)
        stack.pagerduty.fail_next("/incidents/PDEMO01", status=503, times=100)
        stack.github.fail_next("/repos/acme/checkout/deployments", status=502, times=100)
        await demo.play(through=Step.PAGE)
        cards = {
            m["text"].split(":")[0]: json.dumps(m["blocks"])
            for m in stack.slack.messages(demo.channel)
        }
        observe = next(v for k, v in cards.items() if k.startswith("INC-1 Observe"))
        orient = next(v for k, v in cards.items() if k.startswith("INC-1 Orient"))
        assert "Context unavailable" in observe and "PagerDuty alerts" in observe
        assert "503" in observe
        assert "GitHub deployments" in orient and "Context unavailable" in orient
        assert await _count(stack, Incident) == 1


async def test_unsigned_or_badly_signed_requests_store_nothing(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG) as stack:
        scenario = seed_scenario(stack, now=utcnow())
        body = json.dumps(scenario.triggered).encode()
        assert stack.http is not None
        missing = await stack.http.post("/webhooks/pagerduty", content=body)
        assert missing.status_code == 401
        wrong = await stack.pagerduty_webhook(scenario.triggered, secrets=["not-the-secret"])
        assert wrong.status_code == 403
        malformed = await stack.pagerduty_webhook(b"{not json")
        assert malformed.status_code == 400 and "JSON" in malformed.json()["error"]
        unknown = dict(
            scenario.triggered,
            event=dict(scenario.triggered["event"], event_type="service.updated"),
        )
        ignored = await stack.pagerduty_webhook(unknown)
        assert ignored.status_code == 200 and ignored.json()["ignored"] == "service.updated"

        timestamp = str(int(time.time()))
        form = b"command=%2Fincident&text=declare+hi&user_id=U1&channel_id=C1&trigger_id=t"
        forged = await stack.http.post(
            "/slack/events",
            content=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": slack_signature("wrong-secret", timestamp, form),
            },
        )
        assert forged.status_code == 401
        stale = str(int(time.time()) - 600)
        replayed = await stack.http.post(
            "/slack/events",
            content=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": stale,
                "X-Slack-Signature": slack_signature("local-signing-secret", stale, form),
            },
        )
        assert replayed.status_code == 401
        await stack.settle()
        assert await _count(stack, InboundEvent) == 0
        assert await _count(stack, Incident) == 0
        assert stack.slack.calls("conversations.create") == []


async def test_unknown_subcommand_answers_help_ephemerally(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG) as stack:
        response = await stack.command("frobnicate now", user="U0ALICE01", channel="C0GENERAL")
        assert response.status_code == 200
        await stack.settle()
        replies = stack.slack.calls("response_url")
        assert replies, "no reply to the slash command"
        reply = replies[-1].params
        assert reply.get("response_type") == "ephemeral"
        assert "frobnicate" in reply["text"] and "declare" in reply["text"]


async def test_declare_by_command_escapes_user_text(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG) as stack:
        await stack.command(
            "declare <!channel> checkout down", user="U0ALICE01", channel="C0GENERAL"
        )
        await stack.settle()
        async with stack.runtime.db.session() as session:
            entries = (await session.scalars(select(TimelineRow))).all()
        assert entries and entries[0].kind == "opened"
        rendered = [
            t
            for c in stack.slack.calls()
            if c.method.startswith("chat.")
            for t in _mrkdwn(c.params)
        ]
        assert rendered
        assert not [t for t in rendered if "<!channel>" in t]
        # Special mentions stay visible but inert: templates escape them.
        assert any("&lt;!channel&gt; checkout down" in t for t in rendered)


async def test_pagerduty_title_with_mrkdwn_control_characters_is_escaped(
    make_stack: MakeStack,
) -> None:
    async with make_stack(CONFIG) as stack:
        scenario = seed_scenario(stack, now=utcnow())
        event = scenario.triggered["event"]
        event["data"]["title"] = "<!channel> pay & <@U0ALICE01> now"
        await stack.pagerduty_webhook(scenario.triggered)
        await stack.settle()
        rendered = [
            t
            for c in stack.slack.calls()
            if c.method.startswith("chat.")
            for t in _mrkdwn(c.params)
        ]
        assert any("&lt;!channel&gt; pay &amp; &lt;@U0ALICE01&gt; now" in t for t in rendered)
        assert not [t for t in rendered if "<!channel>" in t or "<@U0ALICE01> now" in t]


def test_serve_without_configuration_is_one_line_error(monkeypatch, tmp_path: Path) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code != 0
    assert "SLACK_BOT_TOKEN is not set" in result.output
    assert "Traceback" not in result.output
