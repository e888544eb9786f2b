"""No token or signing secret ever reaches a log line, even when vendors fail (a PagerDuty 500, a
GitHub 401) and everything is logged at DEBUG."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from bot.demo import CONFIG, seed_scenario
from bot.devstack import DevStack
from bot.domain.model import utcnow
from tests.helpers.stack import MakeStack

EXTRA_SECRETS = {
    "GITHUB_WEBHOOK_SECRET": "gh-webhook-local-secret",
    "OODA_CHANGES_SECRET": "changes-local-secret",
    "OODA_VERIFY_POLL_SECONDS": "0.2",
    "OODA_VERIFY_WINDOW_SECONDS": "2",
}


def secret_values(stack: DevStack) -> dict[str, str]:
    """Every token and secret the app runs with, by setting name."""
    settings = stack.settings()
    found: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if not any(word in name for word in ("token", "secret")):
            continue
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        parts = [p.strip() for p in str(raw or "").split(",") if p.strip()]
        for n, part in enumerate(parts):  # several PagerDuty secrets during a rotation
            found[f"{name}[{n}]"] = part
    return found


def logged_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage()]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    parts += [record.exc_text or "", record.stack_info or ""]
    return "\n".join(parts)


async def test_demo_with_vendor_failures_logs_no_secret(
    make_stack: MakeStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_stack(CONFIG, env=EXTRA_SECRETS) as stack:
        secrets = secret_values(stack)
        wanted = {"slack_bot_token", "slack_signing_secret", "pagerduty_api_token", "github_token"}
        assert wanted | {"argocd_token", "pagerduty_webhook_secrets"} <= {
            k.split("[")[0] for k in secrets
        }
        scenario = seed_scenario(stack, now=utcnow())
        alice = scenario.alice
        stack.pagerduty.fail_next("/incidents", status=500)  # the first fetch fails
        stack.github.fail_next("/repos", status=401)  # a bad GitHub token, once
        assert (await stack.pagerduty_webhook(scenario.triggered)).status_code == 202
        await stack.settle()
        [channel] = [c["id"] for c in stack.slack.channels if c["name"].startswith("inc-1-")]

        await stack.click("incident_ack", "1", user=alice, channel=channel)
        await stack.command("orient", user=alice, channel=channel)
        await stack.settle()
        await stack.command("decide", user=alice, channel=channel)
        await stack.settle()
        decide = [m for m in stack.slack.messages(channel) if m["text"].startswith("INC-1 Decide")]
        run = next(
            b["accessory"]
            for b in decide[-1]["blocks"]
            if b.get("accessory", {}).get("action_id") == "decide_run"
        )
        stack.github.fail_next("/repos", status=401)  # the rollback dispatch is refused once
        await stack.click(
            "decide_run", run["value"], user=alice, channel=channel, message_ts=decide[-1]["ts"]
        )
        await stack.settle()
        await stack.submit(stack.slack.views[-1], {"reason": "bad deploy"}, user=alice)
        await stack.settle()
        resolved = stack.pagerduty.webhook_event("incident.resolved", scenario.pd_incident_id)
        await stack.pagerduty_webhook(resolved)
        await stack.settle()

        # The failures really happened, and were logged.
        assert any(c.status == 500 for c in stack.pagerduty.calls)
        assert any(c.status == 401 for c in stack.github.calls)
    assert len(caplog.records) > 50
    for record in caplog.records:
        text = logged_text(record)
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked, f"{leaked} in a {record.levelname} log from {record.name}: {text[:300]}"
    assert not [n for n, v in secrets.items() if v in caplog.text]
