"""Plain domain values. No Slack, no HTTP, no database: adapters convert to and from these."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain.refs import format_ref


def utcnow() -> datetime:
    return datetime.now(UTC)


class Stage(enum.StrEnum):
    OBSERVE = "observe"
    ORIENT = "orient"
    DECIDE = "decide"
    ACT = "act"


STAGE_ORDER: tuple[Stage, ...] = (Stage.OBSERVE, Stage.ORIENT, Stage.DECIDE, Stage.ACT)


class Status(enum.StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(enum.IntEnum):
    SEV1 = 1
    SEV2 = 2
    SEV3 = 3
    SEV4 = 4

    @property
    def label(self) -> str:
        return f"SEV{int(self)}"

    @classmethod
    def parse(cls, text: str | int) -> Severity:
        raw = str(text).strip().upper().removeprefix("SEV")
        try:
            return cls(int(raw))
        except ValueError as exc:
            raise ValueError(f"severity must be SEV1-SEV4, got {text!r}") from exc


class TimelineKind(enum.StrEnum):
    OPENED = "opened"
    ALERT = "alert"
    STAGE = "stage"
    NOTE = "note"
    PINNED = "pinned"
    STATUS = "status"
    SEVERITY = "severity"
    ROLE = "role"
    CONTEXT = "context"
    CHANGE_VERDICT = "change_verdict"
    DECISION = "decision"
    ACTION = "action"
    VERIFY = "verify"
    PAGERDUTY = "pagerduty"
    RESOLVED = "resolved"
    FOLLOWUP = "followup"


class ChangeStatus(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    IN_PROGRESS = "in_progress"
    PENDING = "pending"
    UNKNOWN = "unknown"


class ChangeKind(enum.StrEnum):
    DEPLOY = "deploy"
    FLAG = "flag"
    CONFIG = "config"
    OTHER = "other"


class Verdict(enum.StrEnum):
    SUSPECT = "suspect"
    CAUSED = "caused"
    NOT_RELATED = "not_related"


@dataclass(frozen=True)
class Change:
    """A deploy, flag flip or config change from any source."""

    source: str  # github | argocd | webhook | pagerduty
    external_id: str
    summary: str
    created_at: datetime
    service: str | None = None  # catalog service name, when known
    kind: ChangeKind = ChangeKind.DEPLOY
    status: ChangeStatus = ChangeStatus.UNKNOWN
    repo: str | None = None
    environment: str | None = None
    sha: str | None = None
    ref: str | None = None
    previous_sha: str | None = None  # what a rollback would restore, when known
    url: str | None = None
    author: str | None = None
    size: int | None = None  # lines changed, when known
    data: dict[str, Any] = field(default_factory=dict)
    image_tag: str | None = None  # container image (repo:tag), links one deploy across sources

    @property
    def short_sha(self) -> str | None:
        return self.sha[:7] if self.sha else None


@dataclass(frozen=True)
class RankedChange:
    change: Change
    score: float  # 0..1
    reason: (
        str  # plain language: "deployed to checkout 12 min before the first alert; status failure"
    )
    likely: bool = False  # flagged "likely suspect" (top one, above threshold)
    verdict: Verdict | None = None


@dataclass(frozen=True)
class StageSpan:
    """Time spent in one stage of one loop iteration. ended_at is None while current."""

    stage: Stage
    iteration: int
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: TimelineKind
    text: str
    actor: str | None = None  # Slack user id, "pagerduty", "system", a PagerDuty user name ...
    data: dict[str, Any] = field(default_factory=dict)
    pinned: bool = False


@dataclass(frozen=True)
class Decision:
    at: datetime
    by: str | None
    text: str
    reason: str
    playbook_id: str | None = None
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionRun:
    key: str  # idempotency key
    playbook_id: str
    title: str
    action: str  # e.g. github.workflow_dispatch
    params: dict[str, Any]
    requested_by: str | None
    status: str  # a RunStatus value (bot.domain.action_runs)
    created_at: datetime
    approved_by: tuple[str, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: str | None = None
    verify_passed: bool | None = None


@dataclass(frozen=True)
class FollowUp:
    text: str
    owner: str | None
    created_at: datetime
    created_by: str | None = None
    url: str | None = None


@dataclass
class IncidentView:
    """Read model of one incident: what views, ranking and postmortems need."""

    number: int
    title: str
    severity: Severity
    status: Status
    stage: Stage
    opened_at: datetime
    service: str | None = None
    environment: str | None = None
    pd_incident_id: str | None = None
    pd_url: str | None = None
    urgency: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    first_alert_at: datetime | None = None
    summary: str | None = None
    impact: str | None = None
    root_cause: str | None = None
    roles: dict[str, str] = field(default_factory=dict)  # role -> Slack user id
    is_drill: bool = False

    @property
    def ref(self) -> str:
        return format_ref(self.number)
