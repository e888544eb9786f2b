"""Stats over incidents stored with known timestamps: the DB query, the numbers, the text, and
`/incident stats` through the real app."""

from __future__ import annotations

import asyncio
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.domain.metrics import weekly_stats
from bot.domain.model import Severity, Stage
from bot.service import stats
from bot.storage.db import Database, upgrade
from bot.storage.tables import Incident, StageSpanRow
from tests.helpers.postmortem import postmortem_files
from tests.helpers.stack import MakeStack

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def _incident(
    service: str,
    severity: int,
    opened: datetime,
    *,
    ack: int | None,
    resolved: int | None,
    spans: list[tuple[str, int, int, int | None]],
    drill: bool = False,
) -> tuple[Incident, list[StageSpanRow]]:
    """spans: (stage, iteration, start minute, end minute or None) relative to ``opened``."""
    row = Incident(
        title=f"{service} trouble",
        severity=severity,
        status="resolved" if resolved is not None else "acknowledged",
        stage="observe",
        service=service,
        opened_at=opened,
        acknowledged_at=opened + ack * M if ack is not None else None,
        resolved_at=opened + resolved * M if resolved is not None else None,
        is_drill=drill,
    )
    span_rows = [
        StageSpanRow(
            stage=stage,
            iteration=iteration,
            started_at=opened + start * M,
            ended_at=opened + end * M if end is not None else None,
        )
        for stage, iteration, start, end in spans
    ]
    return row, span_rows


def dataset() -> list[tuple[Incident, list[StageSpanRow]]]:
    return [
        # A: two loops; Observe 4 + 30 = 34 min in total.
        _incident(
            "checkout",
            1,
            NOW - timedelta(days=2),
            ack=4,
            resolved=60,
            spans=[
                ("observe", 1, 0, 4),
                ("orient", 1, 4, 14),
                ("decide", 1, 14, 20),
                ("act", 1, 20, 30),
                ("observe", 2, 30, 60),
            ],
        ),
        # B: the Act span was left open; it counts until resolved_at (14 min).
        _incident(
            "checkout",
            2,
            NOW - timedelta(days=5),
            ack=2,
            resolved=30,
            spans=[
                ("observe", 1, 0, 2),
                ("orient", 1, 2, 12),
                ("decide", 1, 12, 16),
                ("act", 1, 16, None),
            ],
        ),
        # C: still open: no MTTR, and its open Orient span is left out.
        _incident(
            "payments",
            2,
            NOW - timedelta(days=1),
            ack=10,
            resolved=None,
            spans=[("observe", 1, 0, 10), ("orient", 1, 10, None)],
        ),
        # D: a drill: excluded everywhere.
        _incident(
            "checkout",
            1,
            NOW - timedelta(days=1),
            ack=1,
            resolved=5,
            spans=[("observe", 1, 0, 1), ("orient", 1, 1, 5)],
            drill=True,
        ),
        # E: 40 days ago: outside the default 30-day window.
        _incident(
            "checkout",
            3,
            NOW - timedelta(days=40),
            ack=8,
            resolved=100,
            spans=[("observe", 1, 0, 8), ("orient", 1, 8, 100)],
        ),
    ]


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


async def store(db: Database) -> None:
    async with db.transaction() as session:
        for row, spans in dataset():
            session.add(row)
            await session.flush()
            for span in spans:
                span.incident_id = row.id
                session.add(span)


@pytest.fixture
async def db(db: Database) -> Database:
    """The test's database with the incidents above stored."""
    await store(db)
    return db


async def test_stats_over_known_durations(db: Database) -> None:
    report = await stats.gather(db, days=30, now=NOW)
    assert report.count == 3
    assert report.count_by_severity == {
        Severity.SEV1: 1,
        Severity.SEV2: 2,
        Severity.SEV3: 0,
        Severity.SEV4: 0,
    }
    assert report.mtta == (4 + 2 + 10) * M / 3
    assert report.mttr == 45 * M  # mean of 60 and 30; the open incident has none
    assert report.median_stage == {
        Stage.OBSERVE: 10 * M,  # 34, 2, 10
        Stage.ORIENT: 10 * M,  # 10, 10 (C's open span left out)
        Stage.DECIDE: 5 * M,  # 6, 4
        Stage.ACT: 12 * M,  # 10, 14
    }
    checkout, payments = report.by_service["checkout"], report.by_service["payments"]
    assert (checkout.count, checkout.mtta, checkout.mttr) == (2, 3 * M, 45 * M)
    assert checkout.median_stage[Stage.OBSERVE] == 18 * M
    assert (payments.count, payments.mtta, payments.mttr) == (1, 10 * M, None)
    assert payments.median_stage[Stage.DECIDE] is None
    sev2 = report.by_severity[Severity.SEV2]
    assert (sev2.count, sev2.mtta, sev2.mttr) == (2, 6 * M, 30 * M)
    assert set(report.by_severity) == {Severity.SEV1, Severity.SEV2}


async def test_stats_filter_by_service_and_window(db: Database) -> None:
    checkout = await stats.gather(db, service="checkout", days=30, now=NOW)
    assert checkout.count == 2 and set(checkout.by_service) == {"checkout"}
    longer = await stats.gather(db, service="checkout", days=60, now=NOW)
    assert longer.count == 3  # E is back; the drill never is
    assert longer.count_by_severity[Severity.SEV3] == 1
    samples = await stats.load_samples(db)
    assert sorted(s.number for s in samples) == [1, 2, 3, 5]  # no drill
    assert [len(s.spans) for s in sorted(samples, key=lambda s: s.number)] == [5, 4, 2, 2]


async def test_stats_text(db: Database) -> None:
    text = stats.format_report(await stats.gather(db, days=30, now=NOW), days=30)
    lines = text.splitlines()
    assert lines[0] == "Incidents in the last 30 days: 3 (drills excluded)"
    assert lines[1] == "By severity: SEV1 1 · SEV2 2 · SEV3 0 · SEV4 0"
    assert lines[2] == (
        "MTTA 5m · MTTR 45m · median time per stage: Observe 10m · Orient 10m · Decide 5m · Act 12m"
    )
    row = next(line for line in lines if line.startswith("checkout"))
    assert row.split() == ["checkout", "2", "3m", "45m", "18m", "10m", "5m", "12m"]
    payments = next(line for line in lines if line.startswith("payments"))
    assert payments.split() == ["payments", "1", "10m", "—", "10m", "—", "—", "—"]
    empty = stats.format_report(await stats.gather(db, service="nope", now=NOW), days=7)
    assert empty == "Incidents in the last 7 days for nope: 0 (drills excluded)"


def test_parse_args() -> None:
    assert stats.parse_args("") == (None, 30)
    assert stats.parse_args("checkout") == ("checkout", 30)
    assert stats.parse_args("checkout 7") == ("checkout", 7)
    assert stats.parse_args("14d checkout") == ("checkout", 14)
    assert stats.parse_args("0") == "days must be more than 0 and at most 3650"
    assert stats.parse_args("a b") == "unexpected 'b'"


async def test_slash_stats_answers_ephemerally_in_any_channel(make_stack: MakeStack) -> None:
    async with make_stack() as stack:
        async with stack.runtime.db.transaction() as session:
            for row, spans in dataset():
                # Shift into the live window: the app measures from the real clock.
                shift = datetime.now(UTC) - NOW
                row.opened_at += shift
                for field in ("acknowledged_at", "resolved_at"):
                    if getattr(row, field) is not None:
                        setattr(row, field, getattr(row, field) + shift)
                session.add(row)
                await session.flush()
                for span in spans:
                    span.incident_id = row.id
                    span.started_at += shift
                    span.ended_at = span.ended_at + shift if span.ended_at else None
                    session.add(span)
        user = stack.slack.add_user("carol@example.com", "U0CAROL01", name="carol")
        general = stack.slack.add_channel("general")["id"]

        response = await stack.command("stats checkout 30", user=user, channel=general)
        assert response.status_code == 200
        await stack.settle()
        answers = [c.params for c in stack.slack.calls("response_url")]
        assert answers[-1]["response_type"] == "ephemeral"
        text = answers[-1]["text"]
        assert text.startswith("```Incidents in the last 30 days for checkout: 2 (drills excluded)")
        assert "MTTR 45m" in text
        assert stack.slack.messages(general) == []  # nothing public

        await stack.command("stats checkout <!channel>", user=user, channel=general)
        await stack.settle()
        text = stack.slack.calls("response_url")[-1].params["text"]
        assert "unexpected '&lt;!channel&gt;'" in text  # user text is escaped
        assert "Usage: `/incident stats [service] [days] [chart]`" in text
        assert stack.slack.files == []  # no chart unless asked for

        await stack.command("stats checkout 30 chart", user=user, channel=general)
        await stack.settle()
        [shared] = stack.slack.files
        assert shared["channel"] == general and shared["filename"] == "ooda-stats-checkout-30d.png"
        width, height = png_size(shared["content"])
        assert (width, height) == (2000, 760)  # the 1000 by 380 chart, zoomed twice
        assert stack.slack.calls("response_url")[-1].params["text"].startswith("```Incidents")


async def test_drill_is_kept_out_of_stats_metrics_and_announcements(make_stack: MakeStack) -> None:
    config = {"services": [], "announcements_channel": "#incidents"}
    async with make_stack(config) as stack:
        stack.slack.add_channel("incidents")
        user = stack.slack.add_user("carol@example.com", "U0CAROL01", name="carol")
        general = stack.slack.add_channel("general")["id"]
        await stack.command(
            "declare --drill Payments failover rehearsal", user=user, channel=general
        )
        await stack.command("declare --drill", user=user, channel=general)
        await stack.settle()
        answers = [c.params["text"] for c in stack.slack.calls("response_url")]
        assert any("declare --drill &lt;title&gt;" in a for a in answers), answers
        channel = next(c for c in stack.slack.channels if c["name"].startswith("inc-1-"))
        assert channel["name"] == "inc-1-drill-payments-failover-rehearsal"
        await stack.command("resolve rehearsed", user=user, channel=channel["id"])
        await stack.settle()

        async with stack.runtime.db.session() as session:
            row = await session.get(Incident, 1)
        assert row is not None and row.is_drill and row.title.startswith("[DRILL] ")
        assert row.status == "resolved"
        assert [f["title"] for f in postmortem_files(stack)] == ["INC-1 postmortem"]
        assert stack.slack.messages("incidents") == []  # neither opened, resolved nor postmortem
        report = await stats.gather(stack.runtime.db)
        assert report.count == 0
        metrics = stack.runtime.metrics.exposition().decode()
        assert "ooda_incidents_opened_total{" not in metrics
        assert "ooda_incidents_resolved_total{" not in metrics


async def test_the_weekly_chart_counts_each_week_from_monday(db: Database) -> None:
    samples = await stats.load_samples(db)
    weeks = weekly_stats(samples, service="checkout", since=NOW - timedelta(days=30))
    assert weeks and all(w.weekday() == 0 and w.hour == 0 for w, _ in weeks)
    assert sum(g.count for _, g in weeks) == 2  # the drill and the 40-day-old one left out
    png = await stats.trend_chart(db, service="checkout", days=3650)
    assert png_size(png) == (2000, 760) and len(png) > 5_000


def test_ooda_stats_writes_the_chart(tmp_path: Path, database_url: str) -> None:
    asyncio.run(_store_live(database_url))
    target = tmp_path / "trend.png"
    env = {"DATABASE_URL": database_url}
    result = CliRunner().invoke(app, ["stats", "--png", str(target)], env=env)
    assert result.exit_code == 0, result.output
    assert f"Chart written to {target}" in result.stdout
    assert png_size(target.read_bytes()) == (2000, 760)


async def _store_live(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        await store(db)
    finally:
        await db.dispose()
