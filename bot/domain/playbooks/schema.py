"""The playbook schema: the pydantic models of one playbook file and the actions it may use."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.catalog import ServiceConfig
from bot.domain.model import ChangeKind, ChangeStatus
from bot.domain.playbooks.templates import _check_templates

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
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

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


def _default_roles() -> list[Role]:
    return ["commander", "responder"]


class Requires(_Strict):
    roles: list[Role] = Field(default_factory=_default_roles, min_length=1)
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
