"""Incident stats from the database: `/incident stats` and `ooda stats` share this."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot.domain import efficacy
from bot.domain.metrics import (
    GroupStats,
    IncidentSample,
    StatsReport,
    compute_stats,
    weekly_stats,
)
from bot.domain.model import STAGE_ORDER, utcnow
from bot.domain.stages import format_duration
from bot.postmortem.trends import build_trends, trends_png, trends_svg
from bot.storage import outbox, repo
from bot.storage.db import Database

DEFAULT_DAYS = 30
MAX_DAYS = 3650


async def load_samples(
    db: Database, *, since: datetime | None = None, service: str | None = None
) -> list[IncidentSample]:
    """Non-drill incidents opened since ``since``, with their stage spans."""
    async with db.session() as session:
        return await repo.incident_samples(session, since=since, service=service)


async def gather(
    db: Database,
    *,
    service: str | None = None,
    days: float = DEFAULT_DAYS,
    now: datetime | None = None,
) -> StatsReport:
    since = (now or utcnow()) - timedelta(days=days)
    samples = await load_samples(db, since=since, service=service)
    return compute_stats(samples, service=service, since=since)


def _row(label: str, group: GroupStats) -> str:
    stages = "".join(f"{format_duration(group.median_stage.get(s)):>9}" for s in STAGE_ORDER)
    return (
        f"{label[:20]:<20}{group.count:>6}"
        f"{format_duration(group.mtta):>9}{format_duration(group.mttr):>9}{stages}"
    )


def format_report(report: StatsReport, *, days: float) -> str:
    """A plain-text table (monospace): the same text in the terminal and in Slack."""
    scope = f" for {report.service}" if report.service else ""
    window = f"{days:g} day{'s' if days != 1 else ''}"
    lines = [f"Incidents in the last {window}{scope}: {report.count} (drills excluded)"]
    if report.count == 0:
        return lines[0]
    lines.append(
        "By severity: "
        + " · ".join(f"{sev.label} {n}" for sev, n in report.count_by_severity.items())
    )
    lines.append(
        f"MTTA {format_duration(report.mtta)} · MTTR {format_duration(report.mttr)} · "
        "median time per stage: "
        + " · ".join(
            f"{s.value.capitalize()} {format_duration(report.median_stage.get(s))}"
            for s in STAGE_ORDER
        )
    )
    header = f"{'':<20}{'count':>6}{'MTTA':>9}{'MTTR':>9}" + "".join(
        f"{s.value.capitalize():>9}" for s in STAGE_ORDER
    )
    lines += ["", header]
    lines += [_row(name, group) for name, group in report.by_service.items()]
    lines.append("")
    lines += [_row(sev.label, group) for sev, group in report.by_severity.items()]
    lines.append("(medians per stage are summed over the loop iterations of each incident)")
    return "\n".join(lines)


def parse_args(rest: str) -> tuple[str | None, float] | str:
    """`[service] [days]` in either order; returns (service, days) or an error message."""
    service: str | None = None
    days: float = DEFAULT_DAYS
    for word in rest.split():
        token = word.lower().removesuffix("d")
        if token.replace(".", "", 1).isdigit():
            days = float(token)
            if not 0 < days <= MAX_DAYS:
                return f"days must be more than 0 and at most {MAX_DAYS}"
        elif service is None:
            service = word
        else:
            return f"unexpected {word!r}"
    return service, days


async def playbook_records(
    db: Database, *, service: str | None = None, days: float = DEFAULT_DAYS
) -> list[efficacy.PlaybookRecord]:
    """What worked: one record per playbook and service (drills and dry runs left out)."""
    since = utcnow() - timedelta(days=days)
    async with db.session() as session:
        outcomes = await repo.playbook_outcomes(session, service=service, since=since)
    return list(efficacy.records(outcomes).values())


def format_playbooks(records: list[efficacy.PlaybookRecord], *, days: float) -> str:
    """A plain-text table: runs judged, how many worked, the median time to clear."""
    window = f"{days:g} day{'s' if days != 1 else ''}"
    title = f"Playbook runs judged by the verify step in the last {window} (drills excluded)"
    if not records:
        return f"{title}: none"
    lines = [
        title,
        "",
        f"{'playbook':<28}{'service':<20}{'runs':>6}{'worked':>8}{'cleared in':>12}",
    ]
    lines += [
        f"{r.playbook_id[:27]:<28}{(r.service or '—')[:19]:<20}{r.runs:>6}"
        f"{f'{r.rate:.0%}':>8}{format_duration(r.median_clear):>12}"
        for r in records
    ]
    lines.append("(worked: alerts cleared within the verify window; cleared in: median)")
    return "\n".join(lines)


async def trend_chart(
    db: Database, *, service: str | None = None, days: float = DEFAULT_DAYS
) -> bytes:
    """PNG: per week, median time per OODA stage with MTTA and MTTR (drills excluded)."""
    since = utcnow() - timedelta(days=days)
    samples = await load_samples(db, since=since, service=service)
    weeks = weekly_stats(samples, service=service, since=since)
    scope = f"{service or 'all services'}, last {days:g} day{'s' if days != 1 else ''}"
    return await asyncio.to_thread(trends_png, build_trends(weeks, scope=scope))


async def trend_svgs(
    db: Database, *, days: float = DEFAULT_DAYS, services: int = 6
) -> list[tuple[str | None, str]]:
    """SVG trend charts (as trend_chart draws them) for all services, then for each of the
    `services` services with the most incidents: (service or None, svg)."""
    since = utcnow() - timedelta(days=days)
    samples = await load_samples(db, since=since)
    window = f"last {days:g} day{'s' if days != 1 else ''}"
    counts: dict[str, int] = {}
    for sample in samples:
        if sample.service:
            counts[sample.service] = counts.get(sample.service, 0) + 1
    busiest = sorted(counts, key=lambda name: (-counts[name], name))[:services]
    charts: list[tuple[str | None, str]] = []
    for service in [None, *busiest]:
        weeks = weekly_stats(samples, service=service, since=since)
        chart = build_trends(weeks, scope=f"{service or 'all services'}, {window}")
        charts.append((service, trends_svg(chart)))
    return charts


async def post_trend_chart(db: Database, channel: str, *, service: str | None, days: float) -> None:
    """Record the chart's upload to the channel `/incident stats` was typed in."""
    png = await trend_chart(db, service=service, days=days)
    name = (service or "all").replace(" ", "-")
    async with db.transaction() as session:
        await outbox.upload(
            session,
            None,
            content=png,
            filename=f"ooda-stats-{name}-{days:g}d.png",
            title=f"Incident stats: {service or 'all services'}, last {days:g} days",
            comment=None,
            channel=channel,
        )
