"""No token or signing secret ever reaches a log line, even when vendors fail (a PagerDuty 500, a
GitHub 401) and everything is logged at DEBUG."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from bot.demo import CONFIG, DemoIncident, Step
from bot.devstack import DevStack
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
        demo = DemoIncident(stack)
        stack.pagerduty.fail_next("/incidents", status=500)  # the first fetch fails
        stack.github.fail_next("/repos", status=401)  # a bad GitHub token, once
        async for step in demo.steps():
            if step is Step.ACKNOWLEDGE:  # a slash command too, besides the story's buttons
                await stack.command("orient", user=demo.scenario.alice, channel=demo.channel)
                await stack.settle()
            elif step is Step.DECIDE:
                stack.github.fail_next("/repos", status=401)  # the rollback dispatch, refused once

        # The failures really happened, and were logged.
        assert any(c.status == 500 for c in stack.pagerduty.calls)
        assert any(c.status == 401 for c in stack.github.calls)
    assert len(caplog.records) > 50
    for record in caplog.records:
        text = logged_text(record)
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked, f"{leaked} in a {record.levelname} log from {record.name}: {text[:300]}"
    assert not [n for n, v in secrets.items() if v in caplog.text]
