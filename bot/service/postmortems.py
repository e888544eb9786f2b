"""Build the postmortem document from the database and render or publish it."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.catalog import TimelineChoice
from bot.domain.model import IncidentView, TimelineKind, utcnow
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.render import render_postmortem
from bot.service import cards, incidents
from bot.service.runtime import Runtime
from bot.slack.gateway import display_names
from bot.slack.text import render as render_text
from bot.storage import repo
from bot.storage.tables import FollowUpRow

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
        doc, fmt=fmt, templates_dir=templates_dir(rt), pinned_only=choice == "pinned"
    )


async def publish(
    rt: Runtime, number: int, *, announce: bool = True, resolved_by: str | None = None
) -> str | None:
    """Upload the Markdown postmortem to the incident channel (files_upload_v2); with
    ``announce``, announce the resolution with the postmortem's link: one post per announcements
    channel. Returns the link, if any."""
    inc = await cards.load_view(rt, number)
    if inc is None or not inc.channel_id:
        return None
    try:
        url = await _upload_once(rt, inc) if announce else await _upload(rt, inc)
    except Exception:
        if announce:  # the resolution is announced even when the postmortem cannot be written
            await announce_resolved(rt, inc, None, by=resolved_by)
        raise
    if announce:
        await announce_resolved(rt, inc, url, by=resolved_by)
    return url


def upload_kind(inc: IncidentView) -> str | None:
    """incident_messages kind remembering the postmortem uploaded for one resolve."""
    if inc.resolved_at is None:
        return None
    return f"postmortem:{inc.resolved_at.timestamp():.6f}"


async def _upload_once(rt: Runtime, inc: IncidentView) -> str | None:
    """The resolve's upload: a retried postmortem job does not upload the same file again,
    while a later resolve (after a reopen) has a new resolved_at, so a new postmortem."""
    kind = upload_kind(inc)
    if kind is None or not inc.channel_id:
        return await _upload(rt, inc)
    async with rt.db.session() as session:
        done = await repo.message_ts(session, inc.number, kind)
    if done is not None:
        return await _summary_link(rt, inc)
    url = await _upload(rt, inc)
    async with rt.db.transaction() as session:
        await repo.remember_message(session, inc.number, kind, inc.channel_id, "uploaded")
    return url


async def _summary_link(rt: Runtime, inc: IncidentView) -> str | None:
    if not inc.channel_id:
        return None
    async with rt.db.session() as session:
        ts = await repo.message_ts(session, inc.number, "summary")
    return await rt.slack.permalink(inc.channel_id, ts) if ts else None


async def _upload(rt: Runtime, inc: IncidentView) -> str | None:
    text = await render(rt, inc.number, resolve_names=True)
    if text is None or not inc.channel_id:
        return None
    url = await rt.slack.upload(
        inc.channel_id,
        content=text,
        filename=f"{inc.ref.lower()}-postmortem.md",
        title=f"{inc.ref} postmortem",
        comment=f"Postmortem draft for {inc.ref}. Edit it with the team, then share it.",
    )
    if url is None:
        # Not every workspace returns the file's permalink: link the pinned summary instead.
        url = await _summary_link(rt, inc)
    return url


def announce_kind(channel: str) -> str:
    """incident_messages kind of the resolution announcement in one channel (max 40 chars)."""
    kind = f"announce:{channel}"
    if len(kind) <= 40:
        return kind
    return "announce:" + hashlib.sha256(channel.encode()).hexdigest()[:31]


async def announce_resolved(
    rt: Runtime, inc: IncidentView, url: str | None, *, by: str | None
) -> None:
    """Post the resolution, with the postmortem link, once in each announcements channel.

    The post is remembered per channel (`announce:<channel>`), so a retried postmortem job does
    not announce twice. A drill is never announced."""
    if inc.resolved_at is None:
        return
    text = render_text(
        "resolved_announce", inc=inc, duration=inc.resolved_at - inc.opened_at, by=by, url=url
    )
    for channel in incidents.announcement_channels(rt, inc):
        kind = announce_kind(channel)
        async with rt.db.session() as session:
            if await repo.message_ts(session, inc.number, kind):
                continue
        try:
            ts = await rt.slack.post(channel, text)
        except Exception:  # an announcement must never lose the postmortem itself
            log.warning("could not announce %s in %s", inc.ref, channel, exc_info=True)
            continue
        async with rt.db.transaction() as session:
            await repo.remember_message(session, inc.number, kind, channel, ts)


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

_OWNER = re.compile(r"\s+(<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|@[\w.\-]+)$")


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
    inc = await cards.load_view(rt, number)
    if inc is not None:
        await cards.say(rt, inc, render_text("followup_added", text=text, owner=owner, by=by))
    return True


@dataclass
class ExportResult:
    created: list[tuple[str, str]] = field(default_factory=list)  # (text, issue URL)
    skipped: int = 0
    error: str | None = None


async def export_followups(rt: Runtime, number: int) -> ExportResult:
    """One GitHub issue per follow-up in the service's repository. Follow-ups that already have
    an issue are skipped, so running it again only exports the new ones."""
    async with rt.db.session() as session:
        row = await repo.get_incident(session, number)
        inc = repo.to_view(row) if row else None
        rows = [(f.id, f.text, f.owner, f.url) for f in await repo.followup_rows(session, number)]
    if inc is None:
        return ExportResult(error=f"no incident INC-{number}")
    service = rt.config.service(inc.service)
    if service is None or not service.github_repo:
        return ExportResult(
            error=f"{inc.ref} has no service with a github_repo in the config; nowhere to export"
        )
    if rt.github is None:
        return ExportResult(error="GITHUB_TOKEN is not set")
    result = ExportResult(skipped=sum(1 for *_, url in rows if url))
    for followup_id, text, owner, exported in rows:
        if exported:
            continue
        issue = await rt.github.create_issue(
            service.github_repo,
            title=text[:200],
            body=_issue_body(inc, text, owner),
            labels=["incident-follow-up"],
        )
        url = str(issue.get("html_url") or issue.get("url") or "")
        # Stored at once: a failure on the next one must not re-create this issue on a rerun.
        async with rt.db.transaction() as session:
            stored = await session.get(FollowUpRow, followup_id)
            if stored is not None:
                stored.url = url
        result.created.append((text, url))
    return result


def _issue_body(inc: IncidentView, text: str, owner: str | None) -> str:
    lines = [f"Follow-up from **{inc.ref}: {inc.title}** ({inc.severity.label}).", "", text]
    if owner:
        lines += ["", f"Owner: {owner}"]
    if inc.pd_url:
        lines += ["", f"PagerDuty: {inc.pd_url}"]
    return "\n".join(lines)
