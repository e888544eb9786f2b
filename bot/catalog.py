"""The OODA_CONFIG file: services catalog, playbooks and templates directories, reminders,
ranking weights."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.domain.model import ChangeKind, ChangeStatus
from bot.domain.ranking import RankingConfig, RankingWeights
from bot.domain.yaml_lines import DuplicateKeyError, line_of, safe_load


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    pagerduty_service_ids: list[str] = Field(default_factory=list)
    github_repo: str | None = None  # owner/name
    github_environment: str = "production"
    rollback_workflow: str = "rollback.yml"
    argocd_app: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    team: str | None = None
    slack_channel: str | None = None  # announcements channel (id or #name)
    dashboard_url: str | None = None
    logs_url: str | None = None
    # Named endpoints for http.webhook playbook actions: feature_flags, scale, restart, ...
    webhooks: dict[str, str] = Field(default_factory=dict)

    @field_validator("github_repo")
    @classmethod
    def _repo_shape(cls, value: str | None) -> str | None:
        if value is not None and value.count("/") != 1:
            raise ValueError("github_repo must look like owner/name")
        return value


class ReminderPolicy(BaseModel):
    """Minutes before a nudge; null (or 0) turns that reminder off for the severity."""

    model_config = ConfigDict(extra="forbid")

    stage_stall_minutes: float | None = None
    status_update_minutes: float | None = None


DEFAULT_REMINDERS: dict[str, ReminderPolicy] = {
    "SEV1": ReminderPolicy(stage_stall_minutes=15, status_update_minutes=30),
    "SEV2": ReminderPolicy(stage_stall_minutes=20, status_update_minutes=60),
    "SEV3": ReminderPolicy(stage_stall_minutes=45, status_update_minutes=120),
    "SEV4": ReminderPolicy(stage_stall_minutes=120, status_update_minutes=240),
}


class StageBudget(BaseModel):
    """Minutes one pass through each stage may take at a severity; null: no budget."""

    model_config = ConfigDict(extra="forbid")

    observe: float | None = Field(default=None, gt=0)
    orient: float | None = Field(default=None, gt=0)
    decide: float | None = Field(default=None, gt=0)
    act: float | None = Field(default=None, gt=0)

    def minutes(self, stage: str) -> float | None:
        value: float | None = getattr(self, stage, None)
        return value


DEFAULT_STAGE_BUDGETS: dict[str, StageBudget] = {
    "SEV1": StageBudget(observe=5, orient=10, decide=10, act=20),
    "SEV2": StageBudget(observe=10, orient=20, decide=20, act=30),
}


class BudgetHelp(BaseModel):
    """When a stage runs over its budget at one of these severities, escalate the PagerDuty
    incident one level (once per stage pass)."""

    model_config = ConfigDict(extra="forbid")

    severities: list[str] = Field(default_factory=lambda: ["SEV1", "SEV2"])


TimelineChoice = Literal["all", "pinned"]


class PostmortemConfig(BaseModel):
    """How the postmortem is written: ``timeline: all`` (default) or ``pinned`` (📌 only)."""

    model_config = ConfigDict(extra="forbid")

    timeline: TimelineChoice = "all"


_DEFAULT_WEIGHTS = RankingWeights()
_DEFAULT_RANKING = RankingConfig()


class RankingSettings(BaseModel):
    """`ranking:` — the suspect ranking's weights (bot.domain.ranking.RankingWeights); what is
    left out keeps its default. `ooda backtest --weights FILE` tries another set."""

    model_config = ConfigDict(extra="forbid")

    scope: float = _DEFAULT_WEIGHTS.scope
    recency: float = _DEFAULT_WEIGHTS.recency
    dependency_scope: float = _DEFAULT_WEIGHTS.dependency_scope
    other_scope: float = _DEFAULT_WEIGHTS.other_scope
    half_life_hours: float = Field(default=_DEFAULT_RANKING.half_life.total_seconds() / 3600, gt=0)
    likely_threshold: float = Field(default=_DEFAULT_RANKING.likely_threshold, ge=0, le=1)
    status_bonus: dict[ChangeStatus, float] = Field(default_factory=dict)
    kind_bonus: dict[ChangeKind, float] = Field(default_factory=dict)
    size_bonus_max: float = _DEFAULT_WEIGHTS.size_bonus_max
    in_progress_recency_floor: float = Field(
        default=_DEFAULT_WEIGHTS.in_progress_recency_floor, ge=0, le=1
    )

    def config(self, window: timedelta = _DEFAULT_RANKING.window) -> RankingConfig:
        weights = RankingWeights(
            scope=self.scope,
            recency=self.recency,
            dependency_scope=self.dependency_scope,
            other_scope=self.other_scope,
            status_bonus={**_DEFAULT_WEIGHTS.status_bonus, **self.status_bonus},
            kind_bonus={**_DEFAULT_WEIGHTS.kind_bonus, **self.kind_bonus},
            size_bonus_max=self.size_bonus_max,
            in_progress_recency_floor=self.in_progress_recency_floor,
        )
        return RankingConfig(
            window=window,
            likely_threshold=self.likely_threshold,
            half_life=timedelta(hours=self.half_life_hours),
            weights=weights,
        )


class OodaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: list[ServiceConfig] = Field(default_factory=list)
    playbooks_dir: str | None = None
    drills_dir: str | None = None  # drill scenarios (default: the ones shipped)
    templates_dir: str | None = None
    announcements_channel: str | None = None
    # PagerDuty priority name -> severity label, e.g. {"P1": "SEV1"}
    priority_map: dict[str, str] = Field(
        default_factory=lambda: {
            "P1": "SEV1",
            "P2": "SEV2",
            "P3": "SEV3",
            "P4": "SEV4",
            "P5": "SEV4",
        }
    )
    change_window_hours: float = 24.0
    dedup_window_minutes: float = 30.0
    # Per severity ("SEV1".."SEV4"); a severity left out keeps DEFAULT_REMINDERS.
    reminders: dict[str, ReminderPolicy] = Field(default_factory=dict)
    postmortem: PostmortemConfig = Field(default_factory=PostmortemConfig)
    ranking: RankingSettings = Field(default_factory=RankingSettings)
    # Per severity ("SEV1".."SEV4"); a severity left out keeps DEFAULT_STAGE_BUDGETS (if any).
    stage_budgets: dict[str, StageBudget] = Field(default_factory=dict)
    budget_help: BudgetHelp = Field(default_factory=BudgetHelp)

    def stage_budget(self, severity_label: str, stage: str) -> float | None:
        """Minutes the stage may take at this severity, or None."""
        budget = self.stage_budgets.get(severity_label) or DEFAULT_STAGE_BUDGETS.get(severity_label)
        return budget.minutes(stage) if budget else None

    @field_validator("reminders", "stage_budgets")
    @classmethod
    def _severity_keys(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        unknown = sorted(set(value) - set(DEFAULT_REMINDERS))
        if unknown:
            raise ValueError(f"{info.field_name} keys must be SEV1-SEV4, got {', '.join(unknown)}")
        return value

    def reminder_policy(self, severity_label: str) -> ReminderPolicy:
        return self.reminders.get(severity_label) or DEFAULT_REMINDERS.get(
            severity_label, ReminderPolicy()
        )

    @model_validator(mode="after")
    def _known_dependencies(self) -> OodaConfig:
        names = [s.name for s in self.services]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"service names must be unique: {', '.join(duplicates)}")
        problem = _unknown_dependency(self.services)
        if problem is not None:
            raise ValueError(problem[1])
        return self

    def service_for_pagerduty(self, pd_service_id: str | None) -> ServiceConfig | None:
        for service in self.services:
            if pd_service_id and pd_service_id in service.pagerduty_service_ids:
                return service
        return None

    def service_for_repo(self, repo: str | None, environment: str | None) -> ServiceConfig | None:
        """The service deployed from this GitHub repo to this environment (names compared
        case-insensitively, as GitHub does). Without an environment, the first repo match."""
        if not isinstance(repo, str) or not repo:
            return None
        matches = [
            s for s in self.services if s.github_repo and s.github_repo.lower() == repo.lower()
        ]
        if environment is None:
            return matches[0] if matches else None
        if not isinstance(environment, str):  # a sender's odd value matches no environment
            return None
        return next(
            (s for s in matches if s.github_environment.lower() == environment.lower()), None
        )

    def service_for_source(self, *names: str | None) -> ServiceConfig | None:
        """A service named by a change event: its catalog name, GitHub repo or Argo CD app."""
        for name in names:
            if not isinstance(name, str) or not name:
                continue
            wanted = name.strip().lower()
            for service in self.services:
                keys = (service.name, service.github_repo, service.argocd_app)
                if any(k and k.lower() == wanted for k in keys):
                    return service
        return None

    def service(self, name: str | None) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)

    def dependencies_of(self, name: str | None) -> set[str]:
        service = self.service(name)
        return set(service.depends_on) if service else set()


def _unknown_dependency(services: list[ServiceConfig]) -> tuple[int, str] | None:
    """The first service whose depends_on names a service missing from the catalog."""
    names = {s.name for s in services}
    for index, service in enumerate(services):
        unknown = [d for d in service.depends_on if d not in names]
        if unknown:
            return index, (
                f"service {service.name!r} depends_on {', '.join(map(repr, unknown))}, "
                "which is not in the catalog"
            )
    return None


class ConfigError(Exception):
    """A config file problem, with the file and line when known."""


def parse_config(raw: str, source: str = "<config>") -> OodaConfig:
    try:
        data = safe_load(raw) or {}
    except DuplicateKeyError as exc:
        raise ConfigError(f"{source}:{exc.line}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{at}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    try:
        return OodaConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        if not loc:  # a whole-catalog check: point at the offending depends_on
            loc = _model_error_loc(data)
        where = ".".join(str(p) for p in loc) or "config"
        line = line_of(raw, loc)
        at = f":{line}" if line else ""
        raise ConfigError(f"{source}{at}: {where}: {first['msg']}") from exc


def _model_error_loc(data: dict[str, Any]) -> tuple[Any, ...]:
    try:
        services = [ServiceConfig.model_validate(s) for s in data.get("services") or []]
    except ValidationError:
        return ()
    problem = _unknown_dependency(services)
    return ("services", problem[0], "depends_on") if problem else ()


def load_config(path: str | Path) -> OodaConfig:
    """Load OODA_CONFIG; a missing file means an empty catalog (the bot still works)."""
    file = Path(path)
    if not file.exists():
        return OodaConfig()
    return parse_config(file.read_text(encoding="utf-8"), str(file))


def load_ranking(path: str | Path) -> RankingSettings:
    """A ranking weights file for `ooda backtest --weights`: the `ranking:` mapping of an
    OODA_CONFIG file, or that mapping on its own."""
    file = Path(path)
    raw = file.read_text(encoding="utf-8")
    try:
        data = safe_load(raw) or {}
    except DuplicateKeyError as exc:
        raise ConfigError(f"{file}:{exc.line}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping")
    nested = isinstance(data.get("ranking"), dict)
    try:
        return RankingSettings.model_validate(data["ranking"] if nested else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = (("ranking",) if nested else ()) + tuple(first["loc"])
        line = line_of(raw, loc)
        at = f":{line}" if line else ""
        raise ConfigError(f"{file}{at}: {'.'.join(map(str, loc))}: {first['msg']}") from exc
