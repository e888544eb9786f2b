"""Stored rankings: a verdict survives when another tool's report of the same deploy takes over."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.model import Change, ChangeStatus, Verdict, utcnow
from bot.domain.ranking import RankingConfig, rank_changes
from bot.storage import repo
from bot.storage.db import Database, upgrade

SHA = "5eed5eed0123456789abcdef0123456789abcdef"


async def _rerank(db: Database, number: int, alert: datetime) -> list:
    async with db.transaction() as session:
        rows = await repo.changes_since(session, alert - timedelta(hours=6))
        by_key = {(r.source, r.external_id): r for r in rows}
        ranked = rank_changes(
            [repo.change_from_row(r) for r in rows],
            service="checkout",
            first_alert_at=alert,
            config=RankingConfig(window=timedelta(hours=6)),
        )
        await repo.save_ranking(
            session, number, [(by_key[(r.change.source, r.change.external_id)], r) for r in ranked]
        )
    async with db.session() as session:
        return await repo.ranked_changes(session, number)


async def test_verdict_moves_to_the_merged_deploy(database_url: str) -> None:
    upgrade(database_url)
    db = Database(database_url)
    alert = utcnow() - timedelta(minutes=3)
    async with db.transaction() as session:
        incident = await repo.create_incident(
            session, title="Checkout down", service="checkout", first_alert_at=alert
        )
        number = incident.id
        await repo.upsert_change(
            session,
            Change(
                source="github",
                external_id="7001",
                summary="v2",
                sha=SHA,
                created_at=alert - timedelta(minutes=12),
                service="checkout",
                status=ChangeStatus.SUCCESS,
            ),
        )
    first = await _rerank(db, number, alert)
    assert [(r.change.source, r.verdict) for r in first] == [("github", None)]
    async with db.transaction() as session:
        await repo.set_verdict(session, number, "github:7001", Verdict.NOT_RELATED, "U0ALICE01")
    async with db.transaction() as session:
        await repo.upsert_change(
            session,
            Change(
                source="argocd",
                external_id="checkout:5",
                summary="sync v2",
                sha=SHA,
                created_at=alert - timedelta(minutes=11),
                service="checkout",
                status=ChangeStatus.SUCCESS,
            ),
        )
    after = await _rerank(db, number, alert)
    assert len(after) == 1, after  # one deploy, listed once
    [merged] = after
    assert merged.change.source == "argocd"
    assert merged.change.data["linked_sources"] == ["github", "argocd"]
    assert merged.verdict is Verdict.NOT_RELATED  # the responder's word was kept
    await db.dispose()


async def test_overlong_vendor_fields_are_clipped_not_fatal(database_url: str) -> None:
    upgrade(database_url)
    db = Database(database_url)
    async with db.transaction() as session:
        row = await repo.upsert_change(
            session,
            Change(
                source="pagerduty",
                external_id="01X",
                summary="deploy",
                sha="f" * 200,
                image_tag="registry/" + "x" * 400,
                created_at=utcnow(),
            ),
        )
    assert row.sha == "f" * 80 and len(row.image_tag or "") == 300
    await db.dispose()


async def test_a_redraw_keeps_the_merged_status(database_url: str) -> None:
    """Argo CD saw success, the change webhook saw the same deploy fail: stored and reloaded,
    the candidate is Argo CD's report (its rollback applies) with the failure."""
    upgrade(database_url)
    db = Database(database_url)
    alert = utcnow() - timedelta(minutes=3)
    async with db.transaction() as session:
        incident = await repo.create_incident(
            session, title="Checkout down", service="checkout", first_alert_at=alert
        )
        number = incident.id
        for source, external_id, status in (
            ("argocd", "checkout:5", ChangeStatus.SUCCESS),
            ("webhook", "ci-9", ChangeStatus.FAILURE),
        ):
            await repo.upsert_change(
                session,
                Change(
                    source=source,
                    external_id=external_id,
                    summary="v2",
                    sha=SHA,
                    created_at=alert - timedelta(minutes=10),
                    service="checkout",
                    status=status,
                ),
            )
    [merged] = await _rerank(db, number, alert)
    assert merged.change.source == "argocd"
    assert merged.change.status is ChangeStatus.FAILURE
    assert "status failure" in merged.reason
    await db.dispose()
