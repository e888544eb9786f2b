"""`ooda doctor` against the loopback fakes: everything right exits 0; each kind of fault
(missing scope, bad token, unknown PagerDuty service, unreachable repository, database behind
on migrations, a vendor that does not answer in time) exits 1 and names it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from bot.cli import app
from bot.devstack import DevStack
from bot.slack.listen.manifest import BOT_SCOPES
from bot.storage.db import alembic_config, upgrade

pytestmark = pytest.mark.db

CATALOG: dict[str, Any] = {
    "announcements_channel": "#incidents",
    "services": [
        {
            "name": "checkout",
            "pagerduty_service_ids": ["PCHKOUT"],
            "github_repo": "acme/checkout",
            "rollback_workflow": "rollback.yml",
            "argocd_app": "checkout-prod",
            "slack_channel": "#checkout",
        }
    ],
}


@pytest.fixture
def fakes(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevStack]:
    """The fakes of a DevStack holding everything CATALOG names, on a migrated database (the
    bot itself is not started: the doctor runs before it)."""
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    stack = DevStack(tmp_path, config=CATALOG, database_url=database_url)
    stack.start_fakes()
    stack.slack.add_channel("incidents")
    stack.slack.add_channel("checkout")
    stack.pagerduty.add_service("PCHKOUT", "Checkout")
    stack.github.repos = {"acme/checkout"}
    stack.github.workflows = {"rollback.yml"}
    stack.argocd.add_application("checkout-prod", repo_url="https://github.com/acme/checkout")
    upgrade(database_url)
    try:
        yield stack
    finally:
        for fake in (stack.slack, stack.pagerduty, stack.github, stack.argocd):
            fake.stop()


def doctor(stack: DevStack, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["doctor", "--json", *args], env=stack.environment())
    return result.exit_code, json.loads(result.stdout)


def failed(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["area"], c["check"], c["detail"]) for c in report["checks"] if c["status"] == "fail"]


def test_everything_right_exits_zero(fakes: DevStack) -> None:
    code, report = doctor(fakes)
    assert failed(report) == []
    assert code == 0 and report["ok"] is True
    checks = {(c["area"], c["check"]): c["status"] for c in report["checks"]}
    for key in [
        ("database", "migrations"),
        ("slack", "scopes"),
        ("slack", "channel #incidents"),
        ("slack", "channel #checkout"),
        ("pagerduty", "service PCHKOUT"),
        ("pagerduty", "webhook secret"),
        ("github", "repo acme/checkout"),
        ("github", "workflow acme/checkout/rollback.yml"),
        ("argocd", "app checkout-prod"),
    ]:
        assert checks[key] == "ok", key
    table = CliRunner().invoke(app, ["doctor"], env=fakes.environment())
    assert table.exit_code == 0 and "ready for a page" in table.stdout


def test_missing_scope(fakes: DevStack) -> None:
    fakes.slack.scopes = [s for s in BOT_SCOPES if s != "pins:write"]
    code, report = doctor(fakes)
    assert code == 1 and report["ok"] is False
    [(area, check, detail)] = failed(report)
    assert (area, check) == ("slack", "scopes") and "pins:write" in detail
    [scopes] = [c for c in report["checks"] if c["check"] == "scopes"]
    assert "reinstall" in scopes["next_step"]


@pytest.mark.parametrize("vendor", ["slack", "pagerduty", "github"])
def test_bad_token(fakes: DevStack, vendor: str) -> None:
    getattr(fakes, vendor).token = "not-the-token-the-bot-has"
    code, report = doctor(fakes)
    assert code == 1
    assert [(a, c) for a, c, _ in failed(report)] == [(vendor, "token")]
    [(_, _, detail)] = failed(report)
    assert "invalid_auth" in detail or "401" in detail


def test_unknown_pagerduty_service(fakes: DevStack) -> None:
    fakes.config_data = CATALOG | {
        "services": [CATALOG["services"][0] | {"pagerduty_service_ids": ["PCHKOUT", "PNOSUCH"]}]
    }
    code, report = doctor(fakes)
    assert code == 1
    assert failed(report) == [("pagerduty", "service PNOSUCH", "no such service (for checkout)")]


def test_unreachable_repository(fakes: DevStack) -> None:
    fakes.github.repos = {"acme/other"}
    code, report = doctor(fakes)
    assert code == 1
    [(area, check, detail)] = failed(report)
    assert (area, check) == ("github", "repo acme/checkout") and "not reachable" in detail


def test_missing_rollback_workflow(fakes: DevStack) -> None:
    fakes.github.workflows = {"deploy.yml"}
    code, report = doctor(fakes)
    assert code == 1
    assert [c for _, c, _ in failed(report)] == ["workflow acme/checkout/rollback.yml"]


def test_database_behind_on_migrations(fakes: DevStack, database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "0002_change_image_tag")
    scripts = ScriptDirectory.from_config(alembic_config(database_url))
    newer = [
        r for r in scripts.walk_revisions() if r.revision not in ("0001", "0002_change_image_tag")
    ]
    code, report = doctor(fakes)
    assert code == 1
    [(area, check, detail)] = failed(report)
    assert (area, check) == ("database", "migrations")
    assert detail == (
        f"{len(newer)} migration(s) not applied "
        f"(at 0002_change_image_tag, newest {scripts.get_current_head()})"
    )


def test_unreachable_database(fakes: DevStack, tmp_path: Path) -> None:
    fakes.database_url = "postgresql://nobody@127.0.0.1:9/none"
    code, report = doctor(fakes)
    assert code == 1
    assert failed(report) == [("database", "reachable", "cannot connect (OperationalError)")]


def test_auto_sync_is_a_warning_not_a_failure(fakes: DevStack) -> None:
    fakes.argocd.set_auto_sync("checkout-prod", True)
    code, report = doctor(fakes)
    assert code == 0
    [app_check] = [c for c in report["checks"] if c["check"] == "app checkout-prod"]
    assert app_check["status"] == "warn" and "refuse a rollback" in app_check["detail"]


def test_missing_announcements_channel(fakes: DevStack) -> None:
    fakes.config_data = CATALOG | {"announcements_channel": "#no-such-channel"}
    code, report = doctor(fakes)
    assert code == 1
    assert [c for _, c, _ in failed(report)] == ["channel #no-such-channel"]


def test_a_vendor_that_hangs_is_cut_off_and_the_rest_still_answer(fakes: DevStack) -> None:
    gate = fakes.github.hold("/rate_limit")
    try:
        code, report = doctor(fakes, "--timeout", "5")  # the others answer in far less
    finally:
        gate.set()
    assert code == 1
    assert failed(report) == [("github", "answer", "no answer within 5s")]
    assert any(c["area"] == "pagerduty" and c["status"] == "ok" for c in report["checks"])


def test_invalid_config_is_named(fakes: DevStack) -> None:
    fakes.config_data = {"services": [{"name": "checkout", "github_repo": "no-slash"}]}
    code, report = doctor(fakes)
    assert code == 1
    [(area, check, detail)] = failed(report)
    assert (area, check) == ("config", "OODA_CONFIG") and "owner/name" in detail


def test_channels_that_cannot_be_listed_are_named(fakes: DevStack) -> None:
    fakes.slack.fail_next("conversations.list", status=200, error="missing_scope")
    code, report = doctor(fakes)
    assert code == 1
    assert failed(report) == [("slack", "channels", "conversations.list answered missing_scope")]
