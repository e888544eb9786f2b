"""Nothing fails silently in Slack, and Socket Mode leaves no HTTP door for forged requests."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from bot.compose import compose
from bot.devstack import SIGNING_SECRET, DevStack, slack_signature
from bot.service.runtime import build_runtime
from bot.settings import Settings
from tests.helpers.slack import ALICE, general_id


async def test_a_failing_button_tells_the_clicker(stack: DevStack) -> None:
    await stack.command("declare Checkout down", user=ALICE, channel=general_id(stack))
    await stack.settle()
    channel = next(c for c in stack.slack.channels if c["name"].startswith("inc-1-"))
    # Slack refuses the modal (the trigger expired): the Resolve button's listener raises.
    stack.slack.fail_next("views.open", status=200, error="expired_trigger_id")
    await stack.click("incident_resolve", "1", user=ALICE, channel=channel["id"])
    await stack.settle()
    told = [e for e in stack.slack.ephemerals(channel["id"]) if e.get("user") == ALICE]
    assert told and "did not work" in told[-1]["text"]


async def test_socket_mode_app_has_no_slack_route(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_APP_TOKEN="xapp-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        OODA_CONFIG=str(tmp_path / "none.yaml"),
    )
    rt = build_runtime(settings)
    app = compose(rt.settings, runtime=rt, run_worker=False, slack_over_http=False).app
    body = b"command=%2Fincident&text=declare+forged&user_id=U1&channel_id=C1"
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, timestamp, body),
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as client:
        response = await client.post("/slack/events", content=body, headers=headers)
        health = await client.get("/healthz")
    assert response.status_code == 404
    assert health.status_code in (200, 503)
    await rt.aclose()
