"""`ooda pagerduty subscribe` against FakePagerDuty over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.fakes import FakePagerDuty
from integrations.pagerduty import INCIDENT_EVENTS

URL = "https://ooda.example.com/webhooks/pagerduty"


@pytest.fixture
def pagerduty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePagerDuty]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("PAGERDUTY_API_TOKEN", "PAGERDUTY_WEBHOOK_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    fake = FakePagerDuty()
    with fake:
        yield fake


def run(fake: FakePagerDuty, *args: str, **env: str) -> Result:
    values = {"PAGERDUTY_API_URL": fake.url, "OODA_HTTP_BACKOFF": "0"} | env
    return CliRunner().invoke(app, ["pagerduty", "subscribe", *args], env=values)


def test_one_subscription_per_service_with_secrets_printed_once(pagerduty: FakePagerDuty) -> None:
    result = run(
        pagerduty,
        "--url",
        URL,
        "--service",
        "PCHKOUT",
        "--service",
        "PPAYMNT",
        PAGERDUTY_API_TOKEN="pd-token",
    )
    assert result.exit_code == 0, result.output
    subs = pagerduty.webhook_subscriptions
    assert [s["filter"] for s in subs] == [
        {"type": "service_reference", "id": "PCHKOUT"},
        {"type": "service_reference", "id": "PPAYMNT"},
    ]
    assert all(s["delivery_method"]["url"] == URL for s in subs)
    assert all(set(s["events"]) == set(INCIDENT_EVENTS) for s in subs)
    secrets = [s["delivery_method"]["secret"] for s in subs]
    for value in secrets:
        assert result.output.count(value) == 2  # its own line, and the environment line
    assert f"PAGERDUTY_WEBHOOK_SECRETS={secrets[0]},{secrets[1]}" in result.output.splitlines()
    assert "pd-token" not in result.output


def test_whole_account_by_default_and_rotation_hint(pagerduty: FakePagerDuty) -> None:
    result = run(
        pagerduty, "--url", URL, PAGERDUTY_API_TOKEN="pd-token", PAGERDUTY_WEBHOOK_SECRETS="old"
    )
    assert result.exit_code == 0, result.output
    [sub] = pagerduty.webhook_subscriptions
    assert sub["filter"] == {"type": "account_reference"}
    assert "append after a comma" in result.output
    assert "old" not in result.output.replace("already", "")  # the current secret is not echoed


def test_missing_token_is_a_one_line_error(pagerduty: FakePagerDuty) -> None:
    result = run(pagerduty, "--url", URL)
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "error: PAGERDUTY_API_TOKEN is not set (a REST API key that may manage webhooks)"
    ]
    assert pagerduty.webhook_subscriptions == []


def test_bad_url_and_api_errors_are_one_line(pagerduty: FakePagerDuty) -> None:
    bad = run(pagerduty, "--url", "ooda.example.com/webhooks", PAGERDUTY_API_TOKEN="pd-token")
    assert bad.exit_code != 0 and "absolute http(s) URL" in bad.output
    pagerduty.fail_next("/webhook_subscriptions", status=403)
    denied = run(pagerduty, "--url", URL, PAGERDUTY_API_TOKEN="pd-token")
    assert denied.exit_code != 0
    assert denied.output.startswith("error: PagerDuty API returned 403")
    assert pagerduty.webhook_subscriptions == []
