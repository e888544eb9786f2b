"""Deciding: which playbooks apply to an incident, rendered and ranked as suggestions."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from bot.catalog import ServiceConfig
from bot.domain.efficacy import PlaybookRecord
from bot.domain.model import Change, IncidentView, RankedChange, utcnow
from bot.domain.playbooks.errors import NotApplicable, PlaybookError
from bot.domain.playbooks.schema import RISK_PENALTY, Playbook, SuspectCondition
from bot.domain.playbooks.templates import _names, render_template
from bot.domain.ranking import evidence_sentence, pick_suspect

log = logging.getLogger(__package__)  # "bot.domain.playbooks", as before the package split

BUTTON_TEXT_MAX = 75  # Slack button text limit

# --- context ----------------------------------------------------------------------------------


@dataclass
class DecisionContext:
    incident: IncidentView
    service: ServiceConfig | None
    ranked: list[RankedChange] = field(default_factory=list)
    rollback_to: Change | None = None  # rollback_target(changes, pick_suspect(ranked).change)
    alert_titles: list[str] = field(default_factory=list)
    # Playbook id -> its record on this incident's service (runs judged, how many worked).
    records: dict[str, PlaybookRecord] = field(default_factory=dict)
    now: datetime = field(default_factory=utcnow)

    @property
    def past_successes(self) -> dict[str, int]:
        """Playbook id -> times it was judged effective on this service."""
        return {pid: r.effective for pid, r in self.records.items() if r.effective}

    @property
    def suspect(self) -> RankedChange | None:
        return pick_suspect(self.ranked)

    @property
    def first_alert_at(self) -> datetime:
        return self.incident.first_alert_at or self.incident.opened_at


def _change_dict(change: Change) -> dict[str, Any]:
    """Every Change field (kind and status are StrEnums: they render as their value)."""
    return asdict(change) | {"short_sha": change.short_sha}


def _age_minutes(ctx: DecisionContext, change: Change) -> int:
    return int((ctx.first_alert_at - change.created_at).total_seconds() // 60)


def template_context(ctx: DecisionContext) -> dict[str, Any]:
    """What templates see: incident, service, suspect, rollback_to, alerts (params are added)."""
    incident, suspect = ctx.incident, ctx.suspect
    suspect_dict = None
    if suspect is not None:
        suspect_dict = _change_dict(suspect.change) | {
            "age_minutes": _age_minutes(ctx, suspect.change),
            "score": suspect.score,
            "reason": suspect.reason,
            "verdict": suspect.verdict.value if suspect.verdict else None,
        }
    return {
        "incident": {
            "ref": incident.ref,
            "number": incident.number,
            "title": incident.title,
            "severity": incident.severity.label,
            "service": incident.service,
            "environment": incident.environment,
            "url": incident.pd_url,
        },
        "service": ctx.service.model_dump() if ctx.service else {},
        "suspect": suspect_dict,
        "rollback_to": _change_dict(ctx.rollback_to) if ctx.rollback_to else None,
        "alerts": list(ctx.alert_titles),
    }


# --- matching ---------------------------------------------------------------------------------


def _among(value: str | None, allowed: list[str]) -> bool:
    return value is not None and value.casefold() in {a.casefold() for a in allowed}


def _title_match(pattern: str, ctx: DecisionContext) -> str | None:
    regex = re.compile(pattern, re.IGNORECASE)
    return next((t for t in [*ctx.alert_titles, ctx.incident.title] if regex.search(t)), None)


def _suspect_mismatch(cond: SuspectCondition, ctx: DecisionContext) -> str | None:
    ranked = ctx.suspect
    if ranked is None:
        return "there is no suspect change"
    change = ranked.change
    if cond.same_service and not _among(change.service, [ctx.incident.service or ""]):
        return f"the suspect change is not to {ctx.incident.service or 'this service'}"
    if cond.max_age_minutes is not None and _age_minutes(ctx, change) > cond.max_age_minutes:
        return f"the suspect change is older than {cond.max_age_minutes:g} min"
    for attr, allowed in (("status", cond.statuses), ("kind", cond.kinds)):
        value = getattr(change, attr)
        if allowed and value not in allowed:
            return f"the suspect's {attr} {value.value} is not one of {', '.join(allowed)}"
    # A deploy reported by several tools (linked by sha or image tag) matches any of them.
    reported_by = [change.source, *change.data.get("linked_sources", [])]
    if cond.sources and not any(_among(source, cond.sources) for source in reported_by):
        return f"the suspect's source {change.source} is not one of {', '.join(cond.sources)}"
    if ranked.score < cond.min_score:
        return f"the suspect's score {ranked.score:.2f} is below {cond.min_score:.2f}"
    return None


def when_mismatch(playbook: Playbook, ctx: DecisionContext) -> str | None:
    """None when every `when` condition holds; otherwise why the playbook does not apply."""
    when, incident = playbook.when, ctx.incident
    service = incident.service or (ctx.service.name if ctx.service else None)
    if when.services and not _among(service, when.services):
        return f"service {service or 'unknown'} is not one of {', '.join(when.services)}"
    if when.severities and incident.severity.label not in when.severities:
        return f"severity {incident.severity.label} is not one of {', '.join(when.severities)}"
    if when.environments and not _among(incident.environment, when.environments):
        env = incident.environment or "unknown"
        return f"environment {env} is not one of {', '.join(when.environments)}"
    if when.suspect is not None and (reason := _suspect_mismatch(when.suspect, ctx)):
        return reason
    if when.alert_title_matches and not _title_match(when.alert_title_matches, ctx):
        return f"no alert title matches /{when.alert_title_matches}/"
    times = ctx.past_successes.get(playbook.id, 0)
    if when.past_success is True and times == 0:
        return "it has not mitigated an incident on this service before"
    if when.past_success is False and times > 0:
        return "it has mitigated an incident on this service before (past_success: false)"
    for name in when.requires_service_fields:
        if ctx.service is None:
            return "the service has no catalog entry"
        if not getattr(ctx.service, name):
            return f"the catalog entry of {ctx.service.name} has no {name}"
    return None


# --- suggestions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedStep:
    action: str
    with_: dict[str, Any]


@dataclass
class Suggestion:
    playbook: Playbook
    params: dict[str, str]
    steps: list[ResolvedStep]
    label: str
    evidence: list[str]
    score: float
    risk: str
    roles: list[str]
    approvals: int


def _render(playbook: Playbook, value: Any, scope: dict[str, Any], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _render(playbook, v, scope, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_render(playbook, v, scope, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    try:
        return render_template(value, scope)
    except UndefinedError as exc:
        raise NotApplicable(f"{playbook.id}: {where}: {exc.message} in {value!r}") from exc
    except SecurityError as exc:
        raise PlaybookError(f"{playbook.id}: {where}: refused by the sandbox: {exc}") from exc
    except Exception as exc:  # user templates can fail in many ways; report, never crash
        raise PlaybookError(f"{playbook.id}: {where}: template failed: {exc}") from exc


def _evidence(playbook: Playbook, ctx: DecisionContext) -> tuple[float, list[str]]:
    score, evidence = 0.3, []
    uses = _names([*playbook.params.values(), *(s.with_ for s in playbook.steps), playbook.label])
    suspect = ctx.suspect
    if suspect is not None and (
        playbook.when.suspect is not None or uses & {"suspect", "rollback_to"}
    ):
        score += 0.55 * suspect.score + {"caused": 0.1, "suspect": 0.05}.get(
            suspect.verdict or "", 0
        )
        evidence.append(evidence_sentence(suspect))
        if suspect.verdict is not None:
            evidence.append(f"responders marked it {suspect.verdict.value.replace('_', ' ')}")
        if ctx.rollback_to is not None and "rollback_to" in uses:
            target = ctx.rollback_to
            ident = target.short_sha or target.external_id
            evidence.append(f"restores {ident}, the last successful {target.kind.value} before it")
    record = ctx.records.get(playbook.id)
    if record is not None and record.runs:
        # What worked before counts for it; what was judged not effective, against it.
        score += min(0.15, 0.06 * record.effective) - min(
            0.1, 0.04 * (record.runs - record.effective)
        )
        evidence.append(record.sentence(playbook.title))
    if playbook.when.alert_title_matches:
        title = _title_match(playbook.when.alert_title_matches, ctx)
        if title is not None:
            score += 0.1
            evidence.append(f"alert “{title}” matches /{playbook.when.alert_title_matches}/")
    if playbook.when.severities:
        evidence.append(f"{ctx.incident.severity.label} incident")
    score -= RISK_PENALTY[playbook.risk]
    return round(min(1.0, max(0.0, score)), 4), evidence


def resolve_playbook(
    playbook: Playbook, ctx: DecisionContext, *, check_when: bool = True
) -> Suggestion:
    """Render a playbook for this incident. Raises NotApplicable (a PlaybookError) if it does not
    apply; check_when=False skips the `when` conditions (a responder's explicit choice) but the
    templates must still render."""
    if check_when and (reason := when_mismatch(playbook, ctx)):
        raise NotApplicable(f"{playbook.id} does not apply: {reason}")
    scope = template_context(ctx)
    params: dict[str, str] = {}
    for name, source in playbook.params.items():
        params[name] = _render(playbook, source, scope | {"params": dict(params)}, f"params.{name}")
    scope["params"] = params
    steps = []
    webhooks = ctx.service.webhooks if ctx.service else {}
    for index, step in enumerate(playbook.steps):
        where = f"steps[{index}].with"
        with_ = _render(playbook, step.with_, scope, where)
        if step.action == "http.webhook" and "endpoint" in with_:
            if with_["endpoint"] not in webhooks:
                name = ctx.service.name if ctx.service else "the service"
                raise NotApplicable(
                    f"{playbook.id}: {where}.endpoint: {name} has no {with_['endpoint']!r} webhook"
                )
            with_["url"] = webhooks[with_["endpoint"]]
        steps.append(ResolvedStep(step.action, with_))
    label = _render(playbook, playbook.label, scope, "label") if playbook.label else playbook.title
    if len(label) > BUTTON_TEXT_MAX:
        label = label[: BUTTON_TEXT_MAX - 1] + "…"
    score, evidence = _evidence(playbook, ctx)
    return Suggestion(
        playbook=playbook,
        params=params,
        steps=steps,
        label=label,
        evidence=evidence,
        score=score,
        risk=playbook.risk,
        roles=list(playbook.requires.roles),
        approvals=playbook.approvals,
    )


def suggest(
    playbooks: Iterable[Playbook], ctx: DecisionContext, *, limit: int = 3
) -> list[Suggestion]:
    """The playbooks that apply, best first: remediations by evidence, then diagnostics."""
    found: list[Suggestion] = []
    for playbook in playbooks:
        if when_mismatch(playbook, ctx) is not None:
            continue
        try:
            found.append(resolve_playbook(playbook, ctx, check_when=False))
        except NotApplicable:
            continue
        except PlaybookError as exc:
            log.warning("playbook %s skipped: %s", playbook.id, exc)
    order = list(RISK_PENALTY)

    def worked(s: Suggestion) -> tuple[float, int]:
        record = ctx.records.get(s.playbook.id)
        return (record.rate, record.effective) if record else (0.0, 0)

    # The evidence first, then what worked before (rate, then how often), then the risk.
    found.sort(
        key=lambda s: (-s.score, -worked(s)[0], -worked(s)[1], order.index(s.risk), s.playbook.id)
    )
    remediations = [s for s in found if s.playbook.kind == "remediation"]
    diagnostics = [s for s in found if s.playbook.kind == "diagnostic"]
    return (remediations + diagnostics)[: max(limit, 0)]
