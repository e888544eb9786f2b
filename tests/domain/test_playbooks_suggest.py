from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.catalog import ServiceConfig
from bot.domain.efficacy import PlaybookRecord
from bot.domain.model import (
    Change,
    ChangeKind,
    ChangeStatus,
    IncidentView,
    RankedChange,
    Severity,
    Stage,
    Status,
    Verdict,
)
from bot.domain.playbooks import (
    DecisionContext,
    NotApplicable,
    Playbook,
    PlaybookError,
    default_playbooks_dir,
    load_playbooks,
    resolve_playbook,
    suggest,
    template_context,
    when_mismatch,
)
from bot.domain.ranking import pick_suspect, rank_changes, rollback_target

ALERT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
SHIPPED = load_playbooks(default_playbooks_dir())
BY_ID = {p.id: p for p in SHIPPED}
WEBHOOKS = {
    name: f"https://hooks.example.com/{name}"
    for name in ("feature_flags", "scale", "restart", "canary", "failover", "status_page")
}
CHECKOUT = ServiceConfig(
    name="checkout",
    github_repo="acme/checkout",
    argocd_app="checkout-prod",
    depends_on=["payments"],
    team="Checkout squad",
    dashboard_url="https://grafana.example.com/d/checkout",
    logs_url="https://logs.example.com/checkout",
    webhooks=WEBHOOKS,
)
BARE = ServiceConfig(name="checkout")


def deploy(ext: str, before: timedelta, sha: str, **kw: Any) -> Change:
    kw.setdefault("status", ChangeStatus.SUCCESS)
    kw.setdefault("service", "checkout")
    return Change(
        source=kw.pop("source", "github"),
        external_id=ext,
        summary=f"deploy {ext}",
        created_at=ALERT - before,
        environment="production",
        sha=sha,
        **kw,
    )


BAD = deploy("d-2", 12 * M, "a1b2c3d4e5f60718", status=ChangeStatus.FAILURE)
GOOD = deploy("d-1", 5 * 60 * M, "9f8e7d6c5b4a3921")


def context(
    changes: list[Change] = (),  # type: ignore[assignment]
    *,
    service: ServiceConfig | None = CHECKOUT,
    severity: Severity = Severity.SEV2,
    alerts: list[str] = ("Checkout 5xx rate above 5%",),  # type: ignore[assignment]
    past: dict[str, int] | None = None,  # playbook id -> runs that worked (of as many)
    records: dict[str, PlaybookRecord] | None = None,
    environment: str | None = "production",
    verdict: Verdict | None = None,
) -> DecisionContext:
    incident = IncidentView(
        number=42,
        title="Checkout errors",
        severity=severity,
        status=Status.TRIGGERED,
        stage=Stage.DECIDE,
        opened_at=ALERT + 3 * M,
        service="checkout",
        environment=environment,
        first_alert_at=ALERT,
    )
    ranked = rank_changes(
        changes, service="checkout", dependencies=["payments"], first_alert_at=ALERT
    )
    if verdict and ranked:
        top = ranked[0]
        ranked[0] = RankedChange(top.change, top.score, top.reason, top.likely, verdict)
    suspect = pick_suspect(ranked)
    return DecisionContext(
        incident=incident,
        service=service,
        ranked=ranked,
        rollback_to=rollback_target(changes, suspect.change) if suspect else None,
        alert_titles=list(alerts),
        records=records
        or {pid: PlaybookRecord(pid, "checkout", n, n, None) for pid, n in (past or {}).items()},
        now=ALERT + 10 * M,
    )


def custom(**fields: Any) -> Playbook:
    data: dict[str, Any] = {
        "id": "custom",
        "title": "Custom",
        "description": "A test playbook.",
        "kind": "remediation",
        "risk": "low",
        "steps": [{"action": "slack.message", "with": {"text": "hello"}}],
    }
    return Playbook.model_validate(data | fields)


def test_suspect_github_deploy_suggests_github_rollback_first() -> None:
    ctx = context([GOOD, BAD])
    top = suggest(SHIPPED, ctx)[0]
    assert top.playbook.id == "rollback-github-actions"
    assert top.evidence[:2] == [
        "deploy a1b2c3d to checkout 12 min before the first alert; status failure",
        "restores 9f8e7d6, the last successful deploy before it",
    ]
    assert top.label == "Roll back checkout to 9f8e7d6"
    assert top.params["ref"] == "9f8e7d6c5b4a3921"
    assert top.steps[0].action == "github.workflow_dispatch"
    assert top.steps[0].with_ == {
        "repo": "acme/checkout",
        "workflow": "rollback.yml",
        "ref": "main",
        "inputs": {"sha": "9f8e7d6c5b4a3921", "environment": "production", "incident": "INC-42"},
    }
    assert top.steps[1].with_["text"] == (
        "Rolling back checkout in production to 9f8e7d6 "
        "(rollback workflow rollback.yml in acme/checkout)."
    )
    assert (top.risk, top.roles, top.approvals) == ("medium", ["commander", "responder"], 1)
    assert top.score > 0.7


def test_argocd_suspect_suggests_argocd_rollback_with_history_id() -> None:
    prior = deploy("a-1", 3 * 60 * M, "1111111aaaa", source="argocd", data={"history_id": 17})
    bad = deploy("a-2", 8 * M, "2222222bbbb", source="argocd", status=ChangeStatus.UNKNOWN)
    [top, *_] = suggest(SHIPPED, context([prior, bad]))
    assert top.playbook.id == "rollback-argocd"
    assert top.steps[0].with_ == {"app": "checkout-prod", "history_id": "17"}
    assert top.label == "Roll back checkout-prod to 1111111"


def test_rollback_needs_a_target_and_the_same_service() -> None:
    ids = [s.playbook.id for s in suggest(SHIPPED, context([BAD]), limit=20)]
    assert "rollback-github-actions" not in ids  # nothing to roll back to
    dep = deploy("p-2", 10 * M, "cccccccdddd", service="payments", status=ChangeStatus.FAILURE)
    prior = deploy("p-1", 60 * M, "eeeeeeeffff", service="payments")
    ids = [s.playbook.id for s in suggest(SHIPPED, context([prior, dep]), limit=20)]
    assert "rollback-github-actions" not in ids  # never roll checkout back for a payments deploy


def test_flag_suspect_disables_the_flag_through_the_named_webhook() -> None:
    flag = Change(
        source="webhook",
        external_id="ff-9",
        summary="new-cart on",
        created_at=ALERT - 4 * M,
        service="checkout",
        kind=ChangeKind.FLAG,
        status=ChangeStatus.SUCCESS,
        data={"flag_key": "new-cart"},
    )
    top = suggest(SHIPPED, context([flag]))[0]
    assert top.playbook.id == "disable-feature-flag"
    assert top.steps[0].with_ == {
        "endpoint": "feature_flags",
        "url": "https://hooks.example.com/feature_flags",
        "body": {
            "flag": "new-cart",
            "enabled": False,
            "environment": "production",
            "reason": "INC-42: Checkout errors",
        },
    }
    assert top.label == "Turn off flag new-cart"
    assert top.evidence[0] == ("feature flag change ff-9 to checkout 4 min before the first alert")


def test_rollout_in_progress_suggests_halting_it() -> None:
    rolling = deploy("r-1", 6 * M, "abcdef0123", status=ChangeStatus.IN_PROGRESS)
    assert suggest(SHIPPED, context([rolling]))[0].playbook.id == "halt-canary"


def test_without_a_suspect_generic_remediations_then_diagnostics() -> None:
    found = suggest(SHIPPED, context([], severity=Severity.SEV3), limit=20)
    ids = [s.playbook.id for s in found]
    assert ids == ["page-owning-team", "restart-service", "gather-recent-logs", "open-dashboard"]
    assert found[0].label == "Page Checkout squad"
    assert found[0].steps[0].with_ == {"level": 2}


def test_diagnostics_lead_when_no_remediation_applies() -> None:
    playbooks = [BY_ID["open-dashboard"], BY_ID["rollback-github-actions"], BY_ID["scale-up"]]
    assert [s.playbook.id for s in suggest(playbooks, context([]))] == ["open-dashboard"]


def test_limit() -> None:
    assert len(suggest(SHIPPED, context([GOOD, BAD]))) == 3
    assert len(suggest(SHIPPED, context([GOOD, BAD]), limit=1)) == 1


def test_past_success_boosts_and_is_evidence() -> None:
    ctx = context([], severity=Severity.SEV3, past={"restart-service": 2})
    top = suggest(SHIPPED, ctx)[0]
    assert top.playbook.id == "restart-service"
    assert "“Restart the service” worked 2 of 2 times on checkout" in top.evidence


def test_the_record_is_quoted_and_orders_suggestions_after_the_evidence() -> None:
    clear = timedelta(minutes=3)
    good = PlaybookRecord("restart-service", "checkout", 5, 4, clear)
    poor = PlaybookRecord("page-owning-team", "checkout", 3, 0, None)
    ctx = context(
        [], severity=Severity.SEV3, records={good.playbook_id: good, poor.playbook_id: poor}
    )
    found = {s.playbook.id: s for s in suggest(SHIPPED, ctx, limit=20)}
    assert (
        "“Restart the service” worked 4 of 5 times on checkout; alerts cleared in 3m median"
        in found["restart-service"].evidence
    )
    assert (
        "“Page the owning team” worked 0 of 3 times on checkout"
        in found["page-owning-team"].evidence
    )
    plain = {
        s.playbook.id: s for s in suggest(SHIPPED, context([], severity=Severity.SEV3), limit=20)
    }
    assert found["restart-service"].score > plain["restart-service"].score  # it worked
    assert found["page-owning-team"].score < plain["page-owning-team"].score  # it did not


def test_high_risk_ranks_lower_and_needs_two_commander_approvals() -> None:
    found = {
        s.playbook.id: s for s in suggest(SHIPPED, context([], severity=Severity.SEV1), limit=20)
    }
    failover = found["failover-region"]
    assert (failover.approvals, failover.roles, failover.risk) == (2, ["commander"], "high")
    assert failover.score < found["restart-service"].score < found["page-owning-team"].score


def test_alert_title_match_is_evidence() -> None:
    ctx = context([], alerts=["p99 latency above 2s on checkout"], severity=Severity.SEV3)
    top = suggest(SHIPPED, ctx)[0]
    assert top.playbook.id == "scale-up"
    assert top.evidence[0].startswith("alert “p99 latency above 2s on checkout” matches /latency")


def test_verdict_raises_the_score_and_shows_in_evidence() -> None:
    plain = suggest(SHIPPED, context([GOOD, BAD]))[0]
    caused = suggest(SHIPPED, context([GOOD, BAD], verdict=Verdict.CAUSED))[0]
    assert caused.score > plain.score
    assert "responders marked it caused" in caused.evidence


def test_missing_webhook_means_not_applicable() -> None:
    ctx = context([], service=BARE, severity=Severity.SEV1)
    with pytest.raises(
        NotApplicable,
        match=re.escape(
            "restart-service: steps[0].with.endpoint: checkout has no 'restart' webhook"
        ),
    ):
        resolve_playbook(BY_ID["restart-service"], ctx)
    assert [s.playbook.id for s in suggest(SHIPPED, ctx, limit=20)] == ["page-owning-team"]


def test_resolve_playbook_checks_when_unless_told_not_to() -> None:
    ctx = context([], severity=Severity.SEV3)
    with pytest.raises(
        NotApplicable,
        match="failover-region does not apply: severity SEV3 is not one of SEV1, SEV2",
    ):
        resolve_playbook(BY_ID["failover-region"], ctx)
    forced = resolve_playbook(BY_ID["failover-region"], ctx, check_when=False)
    assert forced.steps[1].with_["url"] == "https://hooks.example.com/failover"
    with pytest.raises(
        NotApplicable,
        match=r"params.ref: 'None' has no attribute 'sha' in '\{\{ rollback_to.sha \}\}'",
    ):
        resolve_playbook(BY_ID["rollback-github-actions"], ctx, check_when=False)


def test_params_render_in_order_and_none_does_not_apply() -> None:
    chained = custom(
        params={"a": "{{ service.name }}", "b": "{{ params.a | upper }}-{{ incident.severity }}"},
        label="Go {{ params.b }}",
    )
    resolved = resolve_playbook(chained, context([]))
    assert resolved.params == {"a": "checkout", "b": "CHECKOUT-SEV2"}
    assert resolved.label == "Go CHECKOUT-SEV2"
    assert resolved.evidence == []
    with pytest.raises(NotApplicable, match=re.escape("params.team: a value it uses is not set")):
        resolve_playbook(
            custom(params={"team": "{{ service.argocd_app }}"}), context([], service=BARE)
        )
    with pytest.raises(NotApplicable, match=re.escape("params.repo:")):
        resolve_playbook(
            custom(params={"repo": "{{ service.github_repo }}"}), context([], service=None)
        )


def test_label_defaults_to_title_and_is_cut_to_button_size() -> None:
    assert resolve_playbook(custom(), context([])).label == "Custom"
    long = resolve_playbook(custom(label="{{ 'x' * 100 }}"), context([])).label
    assert len(long) == 75 and long.endswith("…")


def test_sandbox_violation_is_an_error_not_a_silent_skip(caplog: pytest.LogCaptureFixture) -> None:
    evil = custom(id="evil", params={"x": "{{ ''.__class__.__mro__ }}"})
    with pytest.raises(
        PlaybookError, match=re.escape("evil: params.x: refused by the sandbox")
    ) as caught:
        resolve_playbook(evil, context([]))
    assert not isinstance(caught.value, NotApplicable)
    with caplog.at_level(logging.WARNING):
        assert [s.playbook.id for s in suggest([evil, custom()], context([]))] == ["custom"]
    assert "playbook evil skipped" in caplog.text


def test_template_context() -> None:
    ctx = context([GOOD, BAD])
    data = template_context(ctx)
    assert data["incident"] == {
        "ref": "INC-42",
        "number": 42,
        "title": "Checkout errors",
        "severity": "SEV2",
        "service": "checkout",
        "environment": "production",
        "url": None,
    }
    assert data["service"]["github_repo"] == "acme/checkout"
    suspect = data["suspect"]
    assert (suspect["sha"], suspect["short_sha"], suspect["age_minutes"]) == (
        "a1b2c3d4e5f60718",
        "a1b2c3d",
        12,
    )
    assert (suspect["kind"], suspect["status"], suspect["source"]) == (
        "deploy",
        "failure",
        "github",
    )
    assert suspect["reason"] == ctx.ranked[0].reason and suspect["score"] == ctx.ranked[0].score
    assert data["rollback_to"]["short_sha"] == "9f8e7d6"
    assert data["alerts"] == ["Checkout 5xx rate above 5%"]
    empty = template_context(context([], service=None))
    assert (empty["service"], empty["suspect"], empty["rollback_to"]) == ({}, None, None)


FAILED_DEPLOY = [GOOD, BAD]
WHEN_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str | None]] = [
    ("no conditions", {}, {}, None),
    ("service listed", {"services": ["Checkout", "cart"]}, {}, None),
    ("service not listed", {"services": ["cart"]}, {}, "service checkout is not one of cart"),
    ("severity listed", {"severities": ["SEV1", "SEV2"]}, {}, None),
    (
        "severity not listed",
        {"severities": ["SEV1"]},
        {},
        "severity SEV2 is not one of SEV1",
    ),
    ("environment listed", {"environments": ["production"]}, {}, None),
    (
        "environment unknown",
        {"environments": ["production"]},
        {"environment": None},
        "environment unknown is not one of production",
    ),
    ("suspect needed, none", {"suspect": {}}, {}, "there is no suspect change"),
    ("suspect present", {"suspect": {"min_score": 0.8}}, {"changes": FAILED_DEPLOY}, None),
    (
        "suspect too old",
        {"suspect": {"max_age_minutes": 10}},
        {"changes": FAILED_DEPLOY},
        "the suspect change is older than 10 min",
    ),
    (
        "suspect wrong status",
        {"suspect": {"statuses": ["in_progress"]}},
        {"changes": FAILED_DEPLOY},
        "the suspect's status failure is not one of in_progress",
    ),
    (
        "suspect wrong kind",
        {"suspect": {"kinds": ["flag", "config"]}},
        {"changes": FAILED_DEPLOY},
        "the suspect's kind deploy is not one of flag, config",
    ),
    (
        "suspect wrong source",
        {"suspect": {"sources": ["argocd"]}},
        {"changes": FAILED_DEPLOY},
        "the suspect's source github is not one of argocd",
    ),
    (
        "suspect score too low",
        {"suspect": {"min_score": 0.99}},
        {"changes": FAILED_DEPLOY},
        "the suspect's score 0.96 is below 0.99",
    ),
    (
        "suspect on a dependency, same service required",
        {"suspect": {"same_service": True}},
        {"changes": [deploy("p", 5 * M, "123", service="payments")]},
        "the suspect change is not to checkout",
    ),
    ("alert title matches", {"alert_title_matches": "5XX"}, {}, None),
    ("incident title matches", {"alert_title_matches": "^checkout errors$"}, {"alerts": []}, None),
    (
        "no title matches",
        {"alert_title_matches": "latency"},
        {},
        "no alert title matches /latency/",
    ),
    ("past success required, present", {"past_success": True}, {"past": {"custom": 1}}, None),
    (
        "past success required, absent",
        {"past_success": True},
        {"past": {"other": 3}},
        "it has not mitigated an incident on this service before",
    ),
    ("service fields present", {"requires_service_fields": ["github_repo", "logs_url"]}, {}, None),
    (
        "service field missing",
        {"requires_service_fields": ["github_repo"]},
        {"service": BARE},
        "the catalog entry of checkout has no github_repo",
    ),
    (
        "no catalog entry",
        {"requires_service_fields": ["github_repo"]},
        {"service": None},
        "the service has no catalog entry",
    ),
]


@pytest.mark.parametrize(
    ("case", "when", "ctx_args", "expected"), WHEN_CASES, ids=[c[0] for c in WHEN_CASES]
)
def test_when_conditions(
    case: str, when: dict[str, Any], ctx_args: dict[str, Any], expected: str | None
) -> None:
    args = dict(ctx_args)
    ctx = context(args.pop("changes", []), **args)
    assert when_mismatch(custom(when=when), ctx) == expected
