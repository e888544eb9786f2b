"""Decide: playbooks (YAML files), the conditions under which they apply, and ranked suggestions.

Templates are Jinja2 rendered in a sandbox with StrictUndefined: a playbook whose templates need
something the incident does not have (no suspect, no catalog field) simply does not apply.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.catalog import ServiceConfig
from bot.domain.model import Change, ChangeKind, ChangeStatus, IncidentView, RankedChange, utcnow
from bot.domain.ranking import evidence_sentence, pick_suspect

log = logging.getLogger(__name__)

ActionName = Literal[
    "github.workflow_dispatch",
    "argocd.rollback",
    "argocd.sync",
    "http.webhook",
    "pagerduty.note",
    "pagerduty.escalate",
    "slack.message",
]
ACTIONS: tuple[str, ...] = get_args(ActionName)
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "github.workflow_dispatch": ("repo", "workflow", "ref"),
    "argocd.rollback": ("app", "history_id"),
    "argocd.sync": ("app",),
    "http.webhook": ("body",),  # plus endpoint (a name in the service's webhooks) or url
    "pagerduty.note": ("content",),
    "pagerduty.escalate": ("level",),
    "slack.message": ("text",),
}
Role = Literal["commander", "comms", "scribe", "responder", "anyone"]
Risk = Literal["low", "medium", "high"]
RISK_PENALTY: dict[str, float] = {"low": 0.0, "medium": 0.03, "high": 0.1}
BUTTON_TEXT_MAX = 75  # Slack button text limit
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PlaybookError(Exception):
    """A playbook problem: "file: field.path: what is wrong" (one line per problem)."""

    def __init__(self, errors: str | list[str]) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


class NotApplicable(PlaybookError):
    """The playbook does not apply to this incident (its `when` or its templates say so)."""


# --- templates --------------------------------------------------------------------------------


def _finalize(value: Any) -> Any:
    if value is None:  # rendering "None" into a workflow input is never what anyone meant
        raise UndefinedError("a value it uses is not set (None)")
    return value


_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined,
    finalize=_finalize,
    autoescape=False,  # output goes to APIs and Slack, not HTML
)


@lru_cache(maxsize=1024)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


def render_template(source: str, context: Mapping[str, Any]) -> str:
    """Render one template in the sandbox. Raises jinja2 UndefinedError / SecurityError."""
    return _compile(source).render(dict(context))


def _check_templates(value: Any, path: str = "") -> None:
    """Compile every template string (recursively); a syntax error names where it is."""
    if isinstance(value, str):
        try:
            _compile(value)
        except TemplateSyntaxError as exc:
            where = f"{path}: " if path else ""
            raise ValueError(f"{where}template syntax error: {exc.message}") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_templates(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_templates(item, f"{path}[{index}]")


def _names(value: Any) -> set[str]:
    if isinstance(value, str):
        return meta.find_undeclared_variables(_ENV.parse(value))
    if isinstance(value, dict):
        return set().union(*(_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_names(v) for v in value))
    return set()


# --- schema -----------------------------------------------------------------------------------


def _template(value: str) -> str:
    _check_templates(value)
    return value


def _param_name(value: str) -> str:
    if not _IDENT.match(value):
        raise ValueError(f"{value!r} is not a valid name (letters, digits, underscore)")
    return value


TemplateStr = Annotated[str, AfterValidator(_template)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SuspectCondition(_Strict):
    max_age_minutes: float | None = Field(default=None, gt=0)  # before the first alert
    statuses: list[ChangeStatus] = Field(default_factory=list)
    kinds: list[ChangeKind] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    min_score: float = Field(default=0.0, ge=0, le=1)
    same_service: bool = False  # the suspect changed the incident's own service


class When(_Strict):
    services: list[str] = Field(default_factory=list)
    severities: list[Literal["SEV1", "SEV2", "SEV3", "SEV4"]] = Field(default_factory=list)
    environments: list[str] = Field(default_factory=list)
    suspect: SuspectCondition | None = None
    alert_title_matches: str | None = None  # regex, case-insensitive, searched in alert titles
    past_success: bool | None = None
    requires_service_fields: list[str] = Field(default_factory=list)

    @field_validator("alert_title_matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @field_validator("requires_service_fields")
    @classmethod
    def _catalog_fields(cls, value: list[str]) -> list[str]:
        known = list(ServiceConfig.model_fields)
        for name in value:
            if name not in known:
                allowed = ", ".join(known)
                raise ValueError(f"{name!r} is not a service catalog field (one of {allowed})")
        return value


class Requires(_Strict):
    roles: list[Role] = Field(default_factory=lambda: ["commander", "responder"], min_length=1)
    approvals: int | None = Field(default=None, ge=1, le=2)  # default: 2 if risk high, else 1


class Step(_Strict):
    action: ActionName
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")

    @field_validator("with_")
    @classmethod
    def _required_keys(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        action = info.data.get("action")
        if action in REQUIRED_KEYS:
            required = REQUIRED_KEYS[action]
            missing = [k for k in required if value.get(k) in (None, "")]
            if missing:
                raise ValueError(
                    f"{action} needs {', '.join(required)} (missing: {', '.join(missing)})"
                )
            if action == "http.webhook" and ("endpoint" in value) == ("url" in value):
                raise ValueError("http.webhook needs either endpoint (a service webhook) or url")
        _check_templates(value)
        return value


class Verify(_Strict):
    alerts_clear_within_minutes: int = Field(ge=1, le=24 * 60)
    poll_seconds: int = Field(default=30, ge=5, le=3600)


class Playbook(_Strict):
    id: str
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    kind: Literal["diagnostic", "remediation"]
    risk: Risk
    when: When = Field(default_factory=When)
    requires: Requires = Field(default_factory=Requires)
    params: dict[Annotated[str, AfterValidator(_param_name)], TemplateStr] = Field(
        default_factory=dict
    )
    steps: list[Step] = Field(min_length=1)
    verify: Verify | None = None
    dry_run: bool = False
    label: TemplateStr | None = None  # button text template; defaults to the title

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value) or len(value) > 64:
            raise ValueError(f"{value!r} is not a slug (lowercase letters, digits and dashes)")
        return value

    @model_validator(mode="after")
    def _default_approvals(self) -> Playbook:
        if self.requires.approvals is None:
            self.requires.approvals = 2 if self.risk == "high" else 1
        return self

    @property
    def approvals(self) -> int:
        return self.requires.approvals or 1


# --- loading ----------------------------------------------------------------------------------


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in get_args(annotation) if (m := _model_in(a))), None)


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] | None = Playbook
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        info = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = _model_in(info.annotation) if info else None
    return [f.alias or n for n, f in model.model_fields.items()] if model else []


def _line_of(raw: str, loc: tuple[Any, ...]) -> int | None:
    try:
        node = yaml.compose(raw)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == key), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _message(error: Any) -> str:
    kind, loc = error["type"], tuple(error["loc"])
    if kind in ("literal_error", "enum"):
        allowed = ", ".join(re.findall(r"'([^']*)'", error["ctx"]["expected"]))
        return f"{error['input']!r} is not one of {allowed}"
    if kind == "missing":
        return "required"
    if kind == "too_short":
        return f"needs at least {error['ctx']['min_length']} item(s)"
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_fields(loc))
        return f"unknown field (allowed: {allowed})" if allowed else "unknown field"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    message = str(error["msg"]).replace("Input should be", "must be")
    return f"{message} (got {error['input']!r})" if "input" in error else message


def parse_playbook(text: str, name: str = "<playbook>") -> Playbook:
    """Parse one playbook file's text; errors name the file, the field path and the line."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise PlaybookError(f"{name}: line {line}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PlaybookError(f"{name}: the top level must be a mapping (one playbook per file)")
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _line_of(text, loc)
            where = f"{_path(loc)}: " if loc else ""
            errors.append(f"{name}: {where}{_message(error)}" + (f" (line {line})" if line else ""))
        raise PlaybookError(errors) from exc


def _scan(directory: Path | Traversable) -> tuple[list[Playbook], list[str]]:
    if not directory.is_dir():
        return [], [f"{directory}: not a directory"]
    entries = [f for f in directory.iterdir() if f.is_file() and f.name.endswith((".yaml", ".yml"))]
    playbooks: list[Playbook] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for entry in sorted(entries, key=lambda f: f.name):
        try:
            playbook = parse_playbook(entry.read_text(encoding="utf-8"), entry.name)
        except PlaybookError as exc:
            errors.extend(exc.errors)
            continue
        if playbook.id in seen:
            errors.append(
                f"{entry.name}: id: duplicate id {playbook.id!r} (also in {seen[playbook.id]})"
            )
            continue
        seen[playbook.id] = entry.name
        playbooks.append(playbook)
    return playbooks, errors


def load_playbooks(directory: Path | Traversable) -> list[Playbook]:
    """All *.yaml / *.yml playbooks of a directory, by file name. Raises PlaybookError (all errors)."""
    playbooks, errors = _scan(directory)
    if errors:
        raise PlaybookError(errors)
    return playbooks


def validate_directory(directory: Path | Traversable) -> list[str]:
    """Every problem in every playbook file of the directory; [] when all are valid."""
    return _scan(directory)[1]


def default_playbooks_dir() -> Traversable:
    return files("playbooks")


# --- context ----------------------------------------------------------------------------------


@dataclass
class DecisionContext:
    incident: IncidentView
    service: ServiceConfig | None
    ranked: list[RankedChange] = field(default_factory=list)
    rollback_to: Change | None = None  # rollback_target(changes, pick_suspect(ranked).change)
    alert_titles: list[str] = field(default_factory=list)
    past_successes: dict[str, int] = field(default_factory=dict)  # playbook id -> times it worked
    now: datetime = field(default_factory=utcnow)

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
    if cond.sources and not _among(change.source, cond.sources):
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
    times = ctx.past_successes.get(playbook.id, 0)
    if times:
        score += min(0.15, 0.06 * times)
        where = ctx.incident.service or "this service"
        plural = "time" if times == 1 else "times"
        evidence.append(
            f"“{playbook.title}” mitigated an incident on {where} {times} {plural} before"
        )
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
    found.sort(key=lambda s: (-s.score, order.index(s.risk), s.playbook.id))
    remediations = [s for s in found if s.playbook.kind == "remediation"]
    diagnostics = [s for s in found if s.playbook.kind == "diagnostic"]
    return (remediations + diagnostics)[: max(limit, 0)]
