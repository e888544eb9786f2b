"""What a drill's world looks like at a moment: which alerts fire, which have cleared, and the
changes Orient would have found. The bot's Observe and Orient read these instead of PagerDuty
and GitHub, so a drill exercises the same cards, buttons and verify step as a real incident.

Alerts move on the drill's clock (`speed` scenario minutes per real minute: 1 in Slack, faster
for `ooda drill run --local`); changes happened before the drill and keep their real spacing,
since the ranking weighs how long before the first alert each one landed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.drills.schema import DrillChange, Scenario
from bot.domain.model import Change

ALERT_ID = "drill-alert-{index}"


@dataclass(frozen=True)
class DrillClock:
    started_at: datetime
    speed: float = 1.0  # scenario minutes per real minute

    def at(self, minutes: float) -> datetime:
        """The real time of a scenario minute."""
        return self.started_at + timedelta(minutes=minutes / self.speed)


def alerts_at(
    scenario: Scenario, clock: DrillClock, now: datetime, *, fixed_at: datetime | None
) -> list[dict[str, Any]]:
    """The alerts as PagerDuty would list them now (the same fields the Observe card reads).
    An alert due after the fix never fires when the fix clears it."""
    alerts = []
    for index, alert in enumerate(scenario.alerts, start=1):
        fires = clock.at(alert.at)
        if now < fires:
            continue
        fixed = alert.clears == "fix" and fixed_at is not None
        if fixed and fixed_at is not None and fixed_at < fires:
            continue
        cleared = fixed or (isinstance(alert.clears, float) and now >= clock.at(alert.clears))
        alerts.append(
            {
                "id": ALERT_ID.format(index=index),
                "summary": alert.summary,
                "status": "resolved" if cleared else "triggered",
                "created_at": fires.isoformat(),
                "severity": alert.severity,
            }
        )
    return alerts


def event_times(scenario: Scenario, clock: DrillClock) -> list[datetime]:
    """When the world changes by itself after the start (an alert fires or clears): the bot
    observes again then."""
    minutes = {a.at for a in scenario.alerts if a.at > 0}
    minutes |= {a.clears for a in scenario.alerts if isinstance(a.clears, float)}
    return [clock.at(m) for m in sorted(minutes)]


def change_external_id(number: int, change_id: str) -> str:
    """Unique per drill incident: two runs of one scenario never share a change."""
    return f"drill-{number}-{change_id}"


def drill_change_id(number: int, external_id: str) -> str | None:
    prefix = f"drill-{number}-"
    return external_id.removeprefix(prefix) if external_id.startswith(prefix) else None


def changes(
    scenario: Scenario, number: int, first_alert_at: datetime, *, service: str
) -> list[Change]:
    """The scenario's changes as the bot's sources would report them, on `service` (the
    scenario's own service, or the one the drill was started on)."""
    return [_change(c, scenario, number, first_alert_at, service) for c in scenario.changes]


def _change(
    change: DrillChange, scenario: Scenario, number: int, first_alert_at: datetime, service: str
) -> Change:
    on = service if change.service in (None, scenario.service) else change.service
    return Change(
        source=change.source,
        external_id=change_external_id(number, change.id),
        summary=change.summary,
        created_at=first_alert_at - timedelta(minutes=change.minutes_before),
        service=on,
        kind=change.kind,
        status=change.status,
        environment=change.environment,
        sha=change.sha,
        ref=change.ref,
        author=change.author,
        size=change.size,
        data={**change.data, "drill_change": change.id},
    )
