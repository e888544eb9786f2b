"""The drill scenario schema: what one file in `drills/` says (the pydantic models).

Times are minutes. An alert's `at` counts from the moment the drill starts (0: firing when the
channel opens); a change's `minutes_before` counts back from the first alert, as Orient sees it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.catalog import ServiceConfig
from bot.domain.model import ChangeKind, ChangeStatus, Severity, Stage

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ChangeSource = Literal["github", "argocd", "pagerduty", "webhook", "changes"]
MAX_MINUTES = 24 * 60


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DrillAlert(_Strict):
    summary: str = Field(min_length=1, max_length=300)
    at: float = Field(default=0, ge=0, le=MAX_MINUTES)  # minutes after the drill starts
    severity: Literal["critical", "error", "warning", "info"] = "error"
    # "fix": when an acceptable action has run; a number: clears by itself that many minutes
    # after the drill starts (a dependency that recovers); "never": firing until resolved.
    clears: Literal["fix", "never"] | float = "fix"

    @field_validator("clears")
    @classmethod
    def _clears(cls, value: Any) -> Any:
        if isinstance(value, float) and not 0 < value <= MAX_MINUTES:
            raise ValueError(f"must be fix, never or minutes between 0 and {MAX_MINUTES}")
        return value

    @model_validator(mode="after")
    def _clears_after_firing(self) -> DrillAlert:
        if isinstance(self.clears, float) and self.clears <= self.at:
            raise ValueError(f"clears at minute {self.clears:g}, before it fires (at {self.at:g})")
        return self


class DrillChange(_Strict):
    id: str  # the scenario's own name for it: `expected.cause` refers to it
    source: ChangeSource = "github"  # which of the bot's sources would have reported it
    kind: ChangeKind = ChangeKind.DEPLOY
    service: str | None = None  # default: the scenario's service
    summary: str = Field(min_length=1, max_length=500)
    minutes_before: float = Field(ge=0, le=7 * MAX_MINUTES)  # before the first alert
    status: ChangeStatus = ChangeStatus.SUCCESS
    sha: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,40}$")
    author: str | None = Field(default=None, max_length=120)
    environment: str | None = Field(default=None, max_length=120)
    size: int | None = Field(default=None, ge=0)
    ref: str | None = Field(default=None, max_length=200)  # a PR, a flag key, a config path
    data: dict[str, Any] = Field(default_factory=dict)  # e.g. flag_key for a flag flip

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(f"{value!r}: use lowercase letters, digits and dashes")
        return value


class Expected(_Strict):
    cause: str | None  # a change id, or null: no change is to blame
    playbooks: list[str] = Field(min_length=1)  # the acceptable actions (playbook ids)


class Targets(_Strict):
    """Minutes each OODA stage should take at most (summed over loops)."""

    observe: float = Field(default=5, gt=0, le=MAX_MINUTES)
    orient: float = Field(default=10, gt=0, le=MAX_MINUTES)
    decide: float = Field(default=10, gt=0, le=MAX_MINUTES)
    act: float = Field(default=15, gt=0, le=MAX_MINUTES)

    def minutes(self, stage: Stage) -> float:
        return float(getattr(self, stage.value))


class Scenario(_Strict):
    name: str
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1)
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] = "SEV2"
    service: str
    # The catalog `ooda drill run --local` plays against; in Slack, your OODA_CONFIG's own
    # entry for the service is used.
    services: list[ServiceConfig] = Field(default_factory=list)
    alerts: list[DrillAlert] = Field(min_length=1)
    changes: list[DrillChange] = Field(default_factory=list)
    expected: Expected
    targets: Targets = Field(default_factory=Targets)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(f"{value!r}: use lowercase letters, digits and dashes")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        ids = [c.id for c in self.changes]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"changes: duplicate id(s) {', '.join(duplicates)}")
        if self.expected.cause is not None and self.expected.cause not in ids:
            known = ", ".join(ids) or "none"
            raise ValueError(f"expected.cause: no change {self.expected.cause!r} (ids: {known})")
        if min(a.at for a in self.alerts) != 0:
            raise ValueError("alerts: the first alert must fire at 0 (when the drill starts)")
        return self

    @property
    def severity_level(self) -> Severity:
        return Severity[self.severity]

    def change(self, change_id: str | None) -> DrillChange | None:
        return next((c for c in self.changes if c.id == change_id), None)
