"""SQLAlchemy 2.0 typed tables. Alembic migrations in bot/storage/migrations are generated from these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.domain.action_runs import RunStatus


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always returns aware datetimes (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}
    # Every model here maps one Table (DeclarativeBase types it as any FromClause).
    __table__: ClassVar[Table]


def text_length(model: type[Base], column: str) -> int | None:
    """The length a text column keeps (String(n)); None for unbounded text and other types."""
    kind = model.__table__.c[column].type
    return kind.length if isinstance(kind, String) else None


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the INC number
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[str] = mapped_column(String(20), default="triggered", index=True)
    stage: Mapped[str] = mapped_column(String(20), default="observe")
    service: Mapped[str | None] = mapped_column(String(120), index=True)
    environment: Mapped[str | None] = mapped_column(String(120))
    pd_incident_id: Mapped[str | None] = mapped_column(String(40), index=True)
    pd_service_id: Mapped[str | None] = mapped_column(String(40))
    pd_url: Mapped[str | None] = mapped_column(String(500))
    urgency: Mapped[str | None] = mapped_column(String(20))
    channel_id: Mapped[str | None] = mapped_column(String(40), index=True)
    channel_name: Mapped[str | None] = mapped_column(String(80))
    declared_by: Mapped[str | None] = mapped_column(String(40))
    opened_at: Mapped[datetime] = mapped_column(default=_now)
    acknowledged_at: Mapped[datetime | None]
    mitigated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    first_alert_at: Mapped[datetime | None]
    summary: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    roles: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Latest Observe snapshot: alerts, PagerDuty status, who was notified, missing context.
    observation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_drill: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


class StageSpanRow(Base):
    __tablename__ = "stage_spans"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(20))
    iteration: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_stage_spans_incident", "incident_id", "started_at"),)


class TimelineRow(Base):
    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str | None] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    # Natural key of what produced the entry (a Slack message ts, a PagerDuty log entry id):
    # the same source never lands twice on one incident's timeline.
    source_key: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("incident_id", "source_key", name="uq_timeline_source"),
        Index("ix_timeline_incident_at", "incident_id", "at"),
    )


class ChangeRow(Base):
    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(30))
    external_id: Mapped[str] = mapped_column(String(200))
    service: Mapped[str | None] = mapped_column(String(120), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="deploy")
    status: Mapped[str] = mapped_column(String(20), default="unknown")
    repo: Mapped[str | None] = mapped_column(String(200))
    environment: Mapped[str | None] = mapped_column(String(120))
    sha: Mapped[str | None] = mapped_column(String(80), index=True)
    ref: Mapped[str | None] = mapped_column(String(200))
    previous_sha: Mapped[str | None] = mapped_column(String(80))
    summary: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500))
    author: Mapped[str | None] = mapped_column(String(120))
    size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)
    image_tag: Mapped[str | None] = mapped_column(String(300), index=True)  # links sources
    # Injected by a drill: only that drill's Orient sees it (never a real incident's).
    drill_incident_id: Mapped[int | None] = mapped_column(Integer, index=True)

    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_change_source_id"),)


class IncidentChangeRow(Base):
    """A change as ranked for one incident, with the responders' verdict."""

    __tablename__ = "incident_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    likely: Mapped[bool] = mapped_column(Boolean, default=False)
    verdict: Mapped[str | None] = mapped_column(String(20))
    verdict_by: Mapped[str | None] = mapped_column(String(40))
    verdict_at: Mapped[datetime | None]
    # Other reports of the same deploy merged into this one ("github", "argocd", ...).
    linked_sources: Mapped[list[Any] | None] = mapped_column(JSON)
    # The status the ranking used: for a linked deploy, the worst of its reports.
    status: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (UniqueConstraint("incident_id", "change_id", name="uq_incident_change"),)


class DecisionRow(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    by: Mapped[str | None] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    playbook_id: Mapped[str | None] = mapped_column(String(120))
    evidence: Mapped[list[Any]] = mapped_column(default=list)


class ActionRunRow(Base):
    __tablename__ = "action_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200), unique=True)  # idempotency key per decision
    playbook_id: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    requested_by: Mapped[str | None] = mapped_column(String(40))
    approved_by: Mapped[list[Any]] = mapped_column(default=list)
    approvals_needed: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.AWAITING_APPROVAL.value)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Text)
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    verify: Mapped[dict[str, Any]] = mapped_column(default=dict)
    verify_passed: Mapped[bool | None] = mapped_column(Boolean)


class FollowUpRow(Base):
    __tablename__ = "followups"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    url: Mapped[str | None] = mapped_column(String(500))


class IncidentMessageRow(Base):
    """Slack messages the bot keeps current with chat.update (cards, the pinned live summary)."""

    __tablename__ = "incident_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    channel_id: Mapped[str] = mapped_column(String(40))
    ts: Mapped[str] = mapped_column(String(40))

    __table_args__ = (UniqueConstraint("incident_id", "kind", name="uq_incident_message"),)


class PagerDutyLink(Base):
    """PagerDuty incidents mirrored by an ooda incident (several when deduplicated)."""

    __tablename__ = "pagerduty_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    pd_incident_id: Mapped[str] = mapped_column(String(40), unique=True)
    pd_number: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(300))
    service_id: Mapped[str | None] = mapped_column(String(40))
    url: Mapped[str | None] = mapped_column(String(500))
    attached_at: Mapped[datetime] = mapped_column(default=_now)


class InboundEvent(Base):
    """Every verified inbound webhook/event, under a unique dedup key: a redelivery is a no-op."""

    __tablename__ = "inbound_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(30))
    dedup_key: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str | None] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(default=_now)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (UniqueConstraint("source", "dedup_key", name="uq_inbound_dedup"),)


class Job(Base):
    """Due work, claimed with row locks so N replicas never run one job twice."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Jobs sharing an ordering key run one at a time, in id order (events of one incident).
    ordering_key: Mapped[str | None] = mapped_column(String(120))
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    due_at: Mapped[datetime] = mapped_column(default=_now)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_jobs_due", "status", "due_at"),
        Index("ix_jobs_ordering", "ordering_key", "status"),
    )


class OutboxRow(Base):
    """What the bot means to say in Slack, recorded with the state change that caused it and
    delivered in id order per lane (one channel) by bot.slack.delivery.sender."""

    __tablename__ = "slack_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "inc:<n>" (the incident's own channel, which may not exist yet) or "ch:<channel id>".
    lane: Mapped[str] = mapped_column(String(80))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(40))  # None: the incident's channel
    op: Mapped[str] = mapped_column(String(20))
    card: Mapped[str | None] = mapped_column(String(40))  # for op "card": slack_cards.kind
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Something said once per incident whatever retries happen (an announcement per channel).
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_outbox_lane", "lane", "status", "id"),
        Index("ix_outbox_status", "status"),
    )


class SlackCardRow(Base):
    """A message kept current (Observe/Orient/Decide cards, live summary, topic): the newest
    render is the desired state; the sender posts or updates it when version > sent_version."""

    __tablename__ = "slack_cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    lane: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text, default="")
    blocks: Mapped[list[Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    sent_version: Mapped[int] = mapped_column(Integer, default=0)
    ts: Mapped[str | None] = mapped_column(String(40))  # None until first posted
    pin: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        UniqueConstraint("incident_id", "kind", name="uq_slack_card"),
        Index("ix_slack_cards_dirty", "lane", "sent_version", "version"),
    )


class SlackLaneRow(Base):
    """One sender at a time per channel: a short lease, and when a 429 said to come back."""

    __tablename__ = "slack_lanes"

    lane: Mapped[str] = mapped_column(String(80), primary_key=True)
    leased_by: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]
    not_before: Mapped[datetime | None]


class DrillRow(Base):
    """A drill incident's scenario (as it was when the drill started), its clock, when an
    acceptable action fixed its world, and the scorecard given at resolve."""

    __tablename__ = "drills"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    scenario_name: Mapped[str] = mapped_column(String(80), index=True)
    scenario: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime]
    speed: Mapped[float] = mapped_column(Float, default=1.0)
    started_by: Mapped[str | None] = mapped_column(String(120))
    # The request that started it (Slack's ids): a replayed command finds its drill.
    start_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    fixed_at: Mapped[datetime | None]
    fixed_by_playbook: Mapped[str | None] = mapped_column(String(120))
    scorecard: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ConsoleSignInRow(Base):
    """A Sign in with Slack under way: its state (single use) and nonce, for ten minutes."""

    __tablename__ = "console_sign_ins"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    next_path: Mapped[str] = mapped_column(String(500), default="/ui/")
    created_at: Mapped[datetime] = mapped_column(default=_now, index=True)
