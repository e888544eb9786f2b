from __future__ import annotations

from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from bot.domain.playbooks import (
    ACTIONS,
    Playbook,
    PlaybookError,
    default_playbooks_dir,
    load_playbooks,
    parse_playbook,
    render_template,
    validate_directory,
)

VALID = """\
id: restart
title: Restart
description: Rolling restart.
kind: remediation
risk: {risk}
steps:
  - action: {action}
    with:
      app: checkout
"""


def errors_of(text: str, name: str = "rollback.yaml") -> list[str]:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, name)
    return caught.value.errors


def playbook(risk: str = "medium", action: str = "argocd.sync", extra: str = "") -> str:
    return VALID.format(risk=risk, action=action) + extra


def test_minimal_playbook_defaults() -> None:
    parsed = parse_playbook(playbook())
    assert parsed.requires.roles == ["commander", "responder"]
    assert parsed.approvals == 1
    assert parsed.params == {} and parsed.verify is None and parsed.dry_run is False
    assert parsed.steps[0].with_ == {"app": "checkout"}
    assert parsed.when.suspect is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            playbook(action="github.dispatch"),
            "rollback.yaml: steps[0].action: 'github.dispatch' is not one of "
            "github.workflow_dispatch, argocd.rollback, argocd.sync, http.webhook, "
            "pagerduty.note, pagerduty.escalate, slack.message (line 7)",
        ),
        (
            playbook(action="argocd.rollback"),
            "rollback.yaml: steps[0].with: argocd.rollback needs app, history_id "
            "(missing: history_id) (line 8)",
        ),
        (
            playbook(action="github.workflow_dispatch"),
            "rollback.yaml: steps[0].with: github.workflow_dispatch needs repo, workflow, ref "
            "(missing: repo, workflow, ref) (line 8)",
        ),
        (
            playbook(extra="  - action: http.webhook\n    with: {body: {a: 1}}\n"),
            "rollback.yaml: steps[1].with: http.webhook needs either endpoint (a service webhook) "
            "or url (line 11)",
        ),
        (
            playbook(risk="extreme"),
            "rollback.yaml: risk: 'extreme' is not one of low, medium, high (line 5)",
        ),
        (
            playbook(extra="when:\n  alert_title_matches: '(5xx'\n"),
            "rollback.yaml: when.alert_title_matches: not a valid regular expression: "
            "missing ), unterminated subpattern at position 0 (line 11)",
        ),
        (
            playbook(extra="when:\n  severities: [SEV5]\n"),
            "rollback.yaml: when.severities[0]: 'SEV5' is not one of SEV1, SEV2, SEV3, SEV4 "
            "(line 11)",
        ),
        (
            playbook(extra="when:\n  suspect: {statuses: [broken]}\n"),
            "rollback.yaml: when.suspect.statuses[0]: 'broken' is not one of success, failure, "
            "in_progress, pending, unknown (line 11)",
        ),
        (
            playbook(extra="requires: {roles: [boss]}\n"),
            "rollback.yaml: requires.roles[0]: 'boss' is not one of commander, comms, scribe, "
            "responder, anyone (line 10)",
        ),
        (
            playbook(extra="requires: {approvals: 3}\n"),
            "rollback.yaml: requires.approvals: must be less than or equal to 2 (got 3) (line 10)",
        ),
        (
            playbook(extra="verify: {alerts_clear_within_minute: 5}\n"),
            "rollback.yaml: verify.alerts_clear_within_minutes: required (line 10)",
        ),
        (
            playbook(extra="params:\n  ref: '{{ rollback_to.sha '\n"),
            "rollback.yaml: params.ref: template syntax error: unexpected end of template, "
            "expected 'end of print statement'. (line 11)",
        ),
        (
            playbook(extra="colour: blue\n"),
            "rollback.yaml: colour: unknown field (allowed: id, title, description, kind, risk, "
            "when, requires, params, steps, verify, dry_run, label) (line 10)",
        ),
        (
            playbook().replace("id: restart", "id: Restart_It"),
            "rollback.yaml: id: 'Restart_It' is not a slug (lowercase letters, digits and dashes) "
            "(line 1)",
        ),
        (
            playbook(extra="when: {requires_service_fields: [dashbord_url]}\n"),
            "rollback.yaml: when.requires_service_fields: 'dashbord_url' is not a service catalog "
            "field (one of name, pagerduty_service_ids, github_repo, github_environment, "
            "rollback_workflow, argocd_app, depends_on, team, slack_channel, dashboard_url, "
            "logs_url, webhooks) (line 10)",
        ),
    ],
)
def test_schema_error_messages(text: str, message: str) -> None:
    assert message in errors_of(text)


def test_unknown_field_in_nested_model_lists_what_is_allowed() -> None:
    found = errors_of(playbook(extra="verify: {alerts_clear_within_minute: 5}\n"))
    assert (
        "rollback.yaml: verify.alerts_clear_within_minute: unknown field "
        "(allowed: alerts_clear_within_minutes, poll_seconds) (line 10)"
    ) in found


def test_every_error_of_a_file_is_reported() -> None:
    found = errors_of(playbook(risk="extreme", action="nope"))
    assert [e.split(":")[1].strip() for e in found] == ["risk", "steps[0].action"]


def test_steps_are_required_and_not_empty() -> None:
    no_steps = "id: a\ntitle: A\ndescription: d\nkind: diagnostic\nrisk: low\n"
    assert errors_of(no_steps) == ["rollback.yaml: steps: required"]
    assert errors_of(no_steps + "steps: []\n") == [
        "rollback.yaml: steps: needs at least 1 item(s) (line 6)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: a\ntitle: [unclosed\n", "x.yaml: line 3: not valid YAML: expected ',' or ']'"),
        (
            "id: a\n  title: x\n",
            "x.yaml: line 2: not valid YAML: mapping values are not allowed here",
        ),
        ("- a\n- b\n", "x.yaml: the top level must be a mapping (one playbook per file)"),
        ("", "x.yaml: the top level must be a mapping (one playbook per file)"),
    ],
)
def test_yaml_errors_name_the_line(text: str, message: str) -> None:
    [found] = errors_of(text, "x.yaml")
    assert found.startswith(message)


@pytest.mark.parametrize(
    ("risk", "approvals", "expected"),
    [("high", None, 2), ("medium", None, 1), ("low", None, 1), ("high", 1, 1), ("low", 2, 2)],
)
def test_approvals_default_to_two_for_high_risk(
    risk: str, approvals: int | None, expected: int
) -> None:
    extra = f"requires: {{approvals: {approvals}}}\n" if approvals else ""
    parsed = parse_playbook(playbook(risk=risk, extra=extra))
    assert parsed.approvals == expected
    assert parsed.requires.approvals == expected


def test_with_is_accepted_by_field_name_too() -> None:
    parsed = Playbook.model_validate(
        {
            "id": "note",
            "title": "Note",
            "description": "d",
            "kind": "diagnostic",
            "risk": "low",
            "steps": [{"action": "pagerduty.note", "with_": {"content": "hi"}}],
        }
    )
    assert parsed.steps[0].with_ == {"content": "hi"}


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_load_playbooks_sorted_by_file_and_both_extensions(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", playbook().replace("id: restart", "id: bravo"))
    write(tmp_path, "a.yaml", playbook().replace("id: restart", "id: alpha"))
    write(tmp_path, "notes.txt", "not a playbook")
    assert [p.id for p in load_playbooks(tmp_path)] == ["alpha", "bravo"]


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", playbook())
    write(tmp_path, "b.yaml", playbook())
    assert validate_directory(tmp_path) == ["b.yaml: id: duplicate id 'restart' (also in a.yaml)"]
    with pytest.raises(PlaybookError, match=r"duplicate id 'restart' \(also in a.yaml\)"):
        load_playbooks(tmp_path)


def test_validate_directory_reports_all_files(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", playbook())
    write(tmp_path, "bad-risk.yaml", playbook(risk="extreme").replace("restart", "r2"))
    write(tmp_path, "broken.yaml", "id: a\n  title: x\n")
    found = validate_directory(tmp_path)
    assert [e.split(":")[0] for e in found] == ["bad-risk.yaml", "broken.yaml"]
    with pytest.raises(PlaybookError) as caught:
        load_playbooks(tmp_path)
    assert caught.value.errors == found


def test_missing_directory(tmp_path: Path) -> None:
    assert validate_directory(tmp_path / "nope") == [f"{tmp_path / 'nope'}: not a directory"]


def test_shipped_playbooks_are_valid() -> None:
    assert validate_directory(default_playbooks_dir()) == []
    shipped = {p.id: p for p in load_playbooks(default_playbooks_dir())}
    assert set(shipped) == {
        "rollback-github-actions",
        "rollback-argocd",
        "disable-feature-flag",
        "scale-up",
        "restart-service",
        "revert-config-change",
        "halt-canary",
        "failover-region",
        "page-owning-team",
        "status-page-update",
        "gather-recent-logs",
        "open-dashboard",
    }
    assert shipped["failover-region"].risk == "high" and shipped["failover-region"].approvals == 2
    assert shipped["status-page-update"].requires.roles[0] == "comms"
    assert {
        p.kind for p in shipped.values() if p.id in ("gather-recent-logs", "open-dashboard")
    } == {"diagnostic"}
    assert {s.action for p in shipped.values() for s in p.steps} == set(ACTIONS) - {"argocd.sync"}


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ params.__class__ }}",
    ],
)
def test_sandbox_refuses_unsafe_templates(source: str) -> None:
    with pytest.raises(SecurityError):
        render_template(source, {"params": {}})


def test_sandbox_is_immutable() -> None:
    with pytest.raises(SecurityError):
        render_template("{{ alerts.append('x') }}", {"alerts": []})
