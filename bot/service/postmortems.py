"""Build the postmortem document from the database and render or publish it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from bot.domain.model import utcnow
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.render import render_postmortem
from bot.service import cards
from bot.service.runtime import Runtime
from bot.slack.gateway import display_names
from bot.storage import repo


def templates_dir(rt: Runtime) -> Path | None:
    if rt.config.templates_dir:
        return (Path(rt.settings.config_path).parent / rt.config.templates_dir).resolve()
    return None


async def build(rt: Runtime, number: int, *, resolve_names: bool = False) -> PostmortemDoc | None:
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        if row is None:
            return None
        inc = repo.to_view(row)
        doc = PostmortemDoc(
            incident=inc,
            spans=await repo.spans(session, number),
            timeline=await repo.timeline(session, number),
            changes=await repo.ranked_changes(session, number),
            decisions=await repo.decisions(session, number),
            actions=await repo.action_runs(session, number),
            followups=await repo.followups(session, number),
            services=[inc.service] if inc.service else [],
            links=[
                (f"PagerDuty #{link.pd_number or link.pd_incident_id}", link.url)
                for link in await repo.pagerduty_links(session, number)
                if link.url
            ],
            generated_at=utcnow(),
        )
    if resolve_names:
        ids = {e.actor for e in doc.timeline if e.actor and e.actor[:1] in "UW"}
        ids |= {u for u in inc.roles.values() if u}
        doc.names = await display_names(rt.slack, ids)
    return doc


async def render(
    rt: Runtime,
    number: int,
    fmt: Literal["markdown", "html"] = "markdown",
    *,
    resolve_names: bool = False,
) -> str | None:
    doc = await build(rt, number, resolve_names=resolve_names)
    if doc is None:
        return None
    return render_postmortem(doc, fmt=fmt, templates_dir=templates_dir(rt))


async def publish(rt: Runtime, number: int) -> None:
    """Upload the Markdown postmortem to the incident channel (files_upload_v2)."""
    text = await render(rt, number, resolve_names=True)
    inc = await cards.load_view(rt, number)
    if text is None or inc is None or not inc.channel_id:
        return
    await rt.slack.upload(
        inc.channel_id,
        content=text,
        filename=f"{inc.ref.lower()}-postmortem.md",
        title=f"{inc.ref} postmortem",
        comment=f"Postmortem draft for {inc.ref}. Edit it with the team, then share it.",
    )
