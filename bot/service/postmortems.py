"""Build the postmortem document from the database and render or publish it."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.catalog import TimelineChoice
from bot.domain.model import IncidentView, TimelineKind, utcnow
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.draft import Draft, draft
from bot.postmortem.png import chart_png
from bot.postmortem.render import cite_time, render_postmortem
from bot.postmortem.rewrite import rewrite
from bot.service import cards, drills, incidents
from bot.service.runtime import Runtime
from bot.slack.out.gateway import display_names
from bot.slack.out.text import render as render_text
from bot.storage import outbox, repo
from bot.storage.tables import OutboxRow
from integrations.llm import ChatClient

log = logging.getLogger(__name__)

EDITABLE = ("summary", "impact", "root_cause")


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
            drill=(drill.scorecard if (drill := await repo.drill(session, number)) else None),
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
    timeline: TimelineChoice | None = None,
) -> str | None:
    """``timeline`` (all | pinned) overrides the config's ``postmortem.timeline``."""
    doc = await build(rt, number, resolve_names=resolve_names)
    if doc is None:
        return None
    choice = timeline or rt.config.postmortem.timeline
    return render_postmortem(
        doc,
        fmt=fmt,
        templates_dir=templates_dir(rt),
        pinned_only=choice == "pinned",
        drafted=await _rewritten(rt, doc),
    )


async def _chart(rt: Runtime, number: int) -> bytes | None:
    """The stage-band chart as PNG for the channel; None without stage times or on failure."""
    try:
        doc = await build(rt, number)
        if doc is None or not doc.spans:
            return None
        return await asyncio.to_thread(chart_png, doc, templates_dir(rt))
    except Exception:  # the postmortem goes out without its picture
        log.exception("could not draw the stage chart of INC-%s", number)
        return None


async def _rewritten(rt: Runtime, doc: PostmortemDoc) -> Draft | None:
    """The draft rewritten into prose when OODA_LLM_URL and OODA_LLM_MODEL are set."""
    settings = rt.settings
    if not (settings.llm_url and settings.llm_model):
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    client = ChatClient(
        settings.llm_url, settings.llm_model, api_key=key, timeout=settings.llm_timeout_seconds
    )
    try:
        return await rewrite(draft(doc), client, cite_time(doc))
    finally:
        await client.aclose()


async def publish(
    rt: Runtime, number: int, *, announce: bool = True, resolved_by: str | None = None
) -> None:
    """Record the Markdown postmortem's upload to the incident channel; with ``announce``, the
    resolution's announcement with the postmortem's link, once per announcements channel and
    per resolve (a retried job, or a later resolve after a reopen, is told apart by the
    resolve's time). The sender fills the link in once the upload has its permalink."""
    scoring_failed: Exception | None = None
    try:
        await drills.score_once(rt, number)  # a drill's scorecard goes in its postmortem
    except Exception as exc:  # the postmortem still goes out; the job is tried again below
        log.exception("could not score the drill INC-%s", number)
        scoring_failed = exc
    try:
        content = await render(rt, number, resolve_names=True)
    except Exception:
        log.exception("could not write the postmortem of INC-%s", number)
        content = None
    chart = await _chart(rt, number) if content is not None else None
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number)
        if row is None:
            return
        inc = repo.to_view(row)
        resolve = f"{inc.resolved_at.timestamp():.6f}" if inc.resolved_at else "open"
        upload = None
        if content is not None:
            upload = await outbox.upload(
                session,
                number,
                content=content,
                filename=f"{inc.ref.lower()}-postmortem.md",
                title=f"{inc.ref} postmortem",
                comment=f"Postmortem draft for {inc.ref}. Edit it with the team, then share it.",
                once=f"postmortem:{number}:{resolve}" if announce else None,
            )
        if chart is not None:
            await outbox.upload(
                session,
                number,
                content=chart,
                filename=f"{inc.ref.lower()}-stages.png",
                title=f"{inc.ref}: time in each OODA stage",
                comment=None,
                once=f"postmortem-chart:{number}:{resolve}" if announce else None,
            )
        if announce and inc.resolved_at is not None:
            await _announce_resolved(session, rt, inc, upload, by=resolved_by, resolve=resolve)
    if scoring_failed is not None:
        # Retried, the job scores again; what was uploaded and announced is not said twice.
        raise scoring_failed


async def _announce_resolved(
    session: AsyncSession,
    rt: Runtime,
    inc: IncidentView,
    upload: OutboxRow | None,
    *,
    by: str | None,
    resolve: str,
) -> None:
    """The resolution, with the postmortem link, once in each announcements channel. A drill
    is never announced."""
    assert inc.resolved_at is not None
    duration = inc.resolved_at - inc.opened_at
    with_link = render_text("resolved_announce", inc=inc, duration=duration, by=by, url=outbox.LINK)
    without = render_text("resolved_announce", inc=inc, duration=duration, by=by, url=None)
    for channel in incidents.announcement_channels(rt, inc):
        await cards.announce_in(
            session,
            inc,
            channel,
            with_link if upload is not None else without,
            once=f"announce-resolved:{resolve}",
            link_channel=False,
            link_upload=upload.id if upload is not None else None,
            text_no_link=without,
        )


async def update_fields(
    rt: Runtime, number: int, fields: dict[str, str | None], *, by: str | None
) -> bool:
    """Summary, impact and root cause from the edit modal; an empty field clears it."""
    async with rt.db.transaction() as session:
        row = await repo.get_incident(session, number, lock=True)
        if row is None:
            return False
        for key in EDITABLE:
            if key in fields:
                setattr(row, key, (fields[key] or "").strip() or None)
        await repo.add_entry(
            session, number, TimelineKind.NOTE, "Postmortem summary edited", actor=by
        )
    return True


# --------------------------------------------------------------------------- follow-ups

# A trailing owner, short enough for followups.owner (a longer word stays in the text).
_OWNER = re.compile(r"\s+(<@([UW][A-Z0-9]{1,39})(?:\|[^>]*)?>|@[\w.\-]{1,39})$")


def parse_followup(text: str) -> tuple[str, str | None]:
    """``fix the retry policy @alice`` -> ("fix the retry policy", "@alice"); an escaped
    mention ``<@U123|alice>`` gives the user id."""
    text = text.strip()
    match = _OWNER.search(text)
    if match is None:
        return text, None
    owner = match.group(2) or match.group(1).strip()
    return text[: match.start()].strip(), owner


async def add_followup(
    rt: Runtime, number: int, text: str, *, owner: str | None, by: str | None
) -> bool:
    async with rt.db.transaction() as session:
        if await repo.get_incident(session, number) is None:
            return False
        await repo.add_followup(session, number, text, owner=owner, created_by=by)
        await repo.add_entry(
            session,
            number,
            TimelineKind.FOLLOWUP,
            f"Follow-up: {text}",
            actor=by,
            data={"owner": owner} if owner else {},
        )
        await cards.say(
            session, number, render_text("followup_added", text=text, owner=owner, by=by)
        )
    return True


@dataclass
class ExportResult:
    created: list[tuple[str, str]] = field(default_factory=list)  # (text, issue URL)
    skipped: int = 0
    error: str | None = None


async def export_followups(
    rt: Runtime, number: int, *, on_progress: Callable[[int, int], None] | None = None
) -> ExportResult:
    """One GitHub issue per follow-up in the service's repository. Follow-ups that already have
    an issue are skipped, so running it again only exports the new ones. `on_progress(done,
    total)` follows the issues created."""
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        inc = repo.to_view(row) if row else None
        rows = [(f.id, f.text, f.owner, f.url) for f in await repo.followup_rows(session, number)]
    if inc is None:
        return ExportResult(error=f"no incident INC-{number}")
    if inc.is_drill:
        return ExportResult(error=f"{inc.ref} is a drill: its follow-ups stay in the postmortem")
    service = rt.config.service(inc.service)
    if service is None or not service.github_repo:
        return ExportResult(
            error=f"{inc.ref} has no service with a github_repo in the config; nowhere to export"
        )
    if rt.github is None:
        return ExportResult(error="GITHUB_TOKEN is not set")
    result = ExportResult(skipped=sum(1 for *_, url in rows if url))
    todo = [(fid, text, owner) for fid, text, owner, exported in rows if not exported]
    for followup_id, text, owner in todo:
        issue = await rt.github.create_issue(
            service.github_repo,
            title=text[:200],
            body=_issue_body(inc, text, owner),
            labels=["incident-follow-up"],
        )
        url = str(issue.get("html_url") or issue.get("url") or "")
        # Stored at once: a failure on the next one must not re-create this issue on a rerun.
        async with rt.db.transaction() as session:
            await repo.set_followup_url(session, followup_id, url)
        result.created.append((text, url))
        if on_progress is not None:
            on_progress(len(result.created), len(todo))
    return result


def _issue_body(inc: IncidentView, text: str, owner: str | None) -> str:
    lines = [f"Follow-up from **{inc.ref}: {inc.title}** ({inc.severity.label}).", "", text]
    if owner:
        lines += ["", f"Owner: {owner}"]
    if inc.pd_url:
        lines += ["", f"PagerDuty: {inc.pd_url}"]
    return "\n".join(lines)
