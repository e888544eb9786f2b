"""The services catalog: `ooda config validate` names the line of any error; lookups by PagerDuty
service, GitHub repo + environment and change-event source."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.catalog import ConfigError, OodaConfig, load_config, parse_config
from bot.cli import app
from bot.domain.model import ChangeKind, ChangeStatus

GOOD = """\
services:
  - name: checkout
    pagerduty_service_ids: [PCHKOUT]
    github_repo: acme/checkout
    github_environment: production
    argocd_app: checkout-prod
    depends_on: [payments]
    team: payments-eng
  - name: checkout-staging
    github_repo: acme/checkout
    github_environment: staging
  - name: payments
    pagerduty_service_ids: [PPAYMNT, PPAYOLD]
    github_repo: acme/payments
announcements_channel: "#incidents"
change_window_hours: 12
"""


def validate(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "ooda.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "validate", str(path)])
    return result.exit_code, result.output


def test_good_file_validates(tmp_path: Path) -> None:
    code, output = validate(tmp_path, GOOD)
    assert code == 0, output
    assert "3 services OK" in output
    config = load_config(tmp_path / "ooda.yaml")
    assert config.change_window_hours == 12
    assert config.dependencies_of("checkout") == {"payments"}


def test_missing_file_is_an_empty_catalog(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.yaml") == OodaConfig()
    code, output = validate(tmp_path, "")
    assert code == 0 and "0 services OK" in output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("    team: payments-eng\n", "    teem: payments-eng\n"),
            "ooda.yaml:8: services.0.teem: Extra inputs are not permitted",
        ),
        (
            GOOD.replace("github_repo: acme/payments", "github_repo: payments"),
            "ooda.yaml:14: services.2.github_repo: Value error, github_repo must look like "
            "owner/name",
        ),
        (
            GOOD.replace("change_window_hours: 12", "change_window_hours: soon"),
            "ooda.yaml:16: change_window_hours: Input should be a valid number",
        ),
        (
            GOOD.replace("depends_on: [payments]", "depends_on: [payments, ledger]"),
            "ooda.yaml:7: services.0.depends_on: Value error, service 'checkout' depends_on "
            "'ledger', which is not in the catalog",
        ),
        (
            # (not pagerduty_service_ids: the service has that key already, a duplicate)
            GOOD.replace("  - name: checkout\n", "  - slack_channel: '#checkout'\n", 1),
            "services.0.name: Field required",
        ),
        ("services:\n  - name: a\n   bad: [\n", "ooda.yaml:3: not valid YAML"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    code, output = validate(tmp_path, text)
    assert code == 2
    assert expected in output, output


def test_duplicate_service_names() -> None:
    with pytest.raises(ConfigError, match="service names must be unique: api"):
        parse_config("services:\n  - name: api\n  - name: api\n")


def test_service_for_repo_uses_the_environment() -> None:
    config = parse_config(GOOD)
    assert config.service_for_repo("acme/checkout", "production").name == "checkout"  # type: ignore[union-attr]
    assert config.service_for_repo("ACME/Checkout", "Staging").name == "checkout-staging"  # type: ignore[union-attr]
    assert config.service_for_repo("acme/checkout", "qa") is None
    assert config.service_for_repo("acme/checkout", None).name == "checkout"  # type: ignore[union-attr]
    assert config.service_for_repo("acme/search", "production") is None
    assert config.service_for_repo(None, "production") is None


def test_service_for_source_matches_names_repos_and_apps() -> None:
    config = parse_config(GOOD)
    found = [
        s.name if s else None
        for s in (
            config.service_for_source("payments"),
            config.service_for_source(" Acme/Payments "),
            config.service_for_source("checkout-prod"),
            config.service_for_source(None, "", "unknown", "checkout"),
            config.service_for_source("unknown"),
        )
    ]
    assert found == ["payments", "payments", "checkout", "checkout", None]
    assert config.service_for_pagerduty("PPAYOLD").name == "payments"  # type: ignore[union-attr]
    assert config.service_for_pagerduty("PNOPE") is None


def test_the_readme_ranking_example_sets_the_weights_orient_uses() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```yaml\nranking:\n", 1)[1].split("```", 1)[0]
    config = parse_config("ranking:\n" + example).ranking.config(timedelta(hours=6))
    assert config.window == timedelta(hours=6)
    assert config.half_life == timedelta(hours=2)
    assert config.weights.status_bonus[ChangeStatus.FAILURE] == 0.12
    assert config.weights.status_bonus[ChangeStatus.PENDING] == 0.0  # left out: the default
    tuned = parse_config("ranking:\n  kind_bonus: {flag: 0.3}\n  recency: 0.1\n").ranking
    assert tuned.config().weights.kind_bonus[ChangeKind.FLAG] == 0.3
    assert tuned.config().weights.recency == 0.1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ranking:\n  scoop: 1\n", ":2: ranking.scoop"),
        ("ranking:\n  status_bonus: {broken: 0.1}\n", ":2: ranking.status_bonus.broken"),
        ("ranking:\n  half_life_hours: 0\n", ":2: ranking.half_life_hours"),
        ("stage_budgets:\n  P1: {orient: 3}\n", "stage_budgets keys must be SEV1-SEV4, got P1"),
        ("stage_budgets:\n  SEV1: {orient: 0}\n", ":2: stage_budgets.SEV1.orient"),
        ("budget_help: {severities: SEV1}\n", ":1: budget_help.severities"),
    ],
)
def test_ranking_and_budget_errors_name_the_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        parse_config(text, "ooda.yaml")
