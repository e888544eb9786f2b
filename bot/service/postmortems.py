"""Build the postmortem document from the database and render or publish it."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.domain.model import IncidentView, TimelineKind, utcnow
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.render import render_postmortem
from bot.service import cards
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
) -> str | None:
    doc = await build(rt, number, resolve_names=resolve_names)
    if doc is None:
        return None
    return render_postmortem(doc, fmt=fmt, templates_dir=templates_dir(rt))


async def publish(rt: Runtime, number: int, *, announce: bool = True) -> str | None:
    """Upload the Markdown postmortem to the incident channel (files_upload_v2); with
    ``announce``, post a link in the announcements channels. Returns the link, if any."""
    text = await render(rt, number, resolve_names=True)
    inc = await cards.load_view(rt, number)
    if text is None or inc is None or not inc.channel_id:
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
        async with rt.db.session() as session:
            ts = await repo.message_ts(session, number, "summary")
        url = await rt.slack.permalink(inc.channel_id, ts) if ts else None
    if announce:
        await announce_postmortem(rt, inc, url)
    return url


def announcement_channels(rt: Runtime, inc: IncidentView) -> list[str]:
    service = rt.config.service(inc.service)
    targets = {rt.config.announcements_channel}
    if service is not None:
        targets.add(service.slack_channel)
    return sorted(c for c in targets if c)


async def announce_postmortem(rt: Runtime, inc: IncidentView, url: str | None) -> None:
    if inc.is_drill:
        return
    text = render_text("postmortem_announce", inc=inc, url=url)
    for channel in announcement_channels(rt, inc):
        try:
            await rt.slack.post(channel, text)
        except Exception:  # an announcement must never lose the postmortem itself
            log.warning(
                "could not announce the %s postmortem in %s", inc.ref, channel, exc_info=True
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
