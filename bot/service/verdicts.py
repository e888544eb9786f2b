"""A responder's verdict on a change ranked for an incident (suspect, caused, not related):
from its Orient card's buttons or the web console."""

from __future__ import annotations

from bot.domain.model import TimelineKind, Verdict
from bot.service import cards, orientation
from bot.service.runtime import Runtime
from bot.storage import repo


async def set_verdict(
    rt: Runtime, number: int, change_key: str, verdict: Verdict, *, by: str
) -> bool:
    """Mark the change (``source:external_id``) on the timeline and refresh the Orient card;
    False when that change is not ranked for the incident."""
    async with rt.db.transaction() as session:
        change = await repo.set_verdict(session, number, change_key, verdict, by)
        if change is not None:
            label = verdict.value.replace("_", " ")
            await repo.add_entry(
                session,
                number,
                TimelineKind.CHANGE_VERDICT,
                f"Marked {change.summary} as {label}",
                actor=by,
                data={"change": change_key, "verdict": verdict.value},
            )
    if change is None:
        return False
    await orientation.repost_orient(rt, number)
    await cards.refresh(rt, number)
    return True
