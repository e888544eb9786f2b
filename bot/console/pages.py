"""The console's pages: incidents list, incident, postmortem (and its downloads), trends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from bot.console.guard import error_page
from bot.console.session import Person
from bot.console.templating import HEADERS, page
from bot.domain.model import Severity, Stage, Status, utcnow
from bot.postmortem.png import chart_svg
from bot.service import drills, postmortems, stats
from bot.service.runtime import Runtime
from bot.storage import repo

PAGE_SIZE = 50
DRILLS_SHOWN = 20  # on the trends page, newest first


class BadFilter(ValueError):
    """A list filter that cannot be read; the page says which."""


def _int(value: str | None, what: str, low: int, high: int) -> int | None:
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadFilter(f"{what} must be a number") from None
    if not low <= number <= high:
        raise BadFilter(f"{what} must be between {low} and {high}")
    return number


def _day(value: str | None, what: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise BadFilter(f"{what} must be a date (YYYY-MM-DD)") from None


def incident_filter(query: dict[str, str]) -> repo.IncidentFilter:
    status = query.get("status") or None
    if status is not None and status not in {s.value for s in Status}:
        raise BadFilter("status must be triggered, acknowledged or resolved")
    to = _day(query.get("to"), "to")
    return repo.IncidentFilter(
        status=status,
        severity=_int(query.get("severity"), "severity", 1, 4),
        service=(query.get("service") or "").strip()[:120] or None,
        opened_from=_day(query.get("from"), "from"),
        opened_to=to + timedelta(days=1) if to else None,  # the whole "to" day
        drills=query.get("drills") == "1",
        text=(query.get("q") or "").strip()[:200] or None,
    )


def incident_number(request: Request) -> int | None:
    raw = str(request.path_params.get("number", ""))
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def not_found(person: Person, what: str) -> Response:
    return error_page(person, 404, "Not found", f"There is no {what}.")


class Pages:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def incidents(self, request: Request, person: Person) -> Response:
        query = dict(request.query_params)
        try:
            f = incident_filter(query)
            before = _int(query.get("before"), "before", 1, 2**31)
            after = _int(query.get("after"), "after", 0, 2**31)
        except BadFilter as exc:
            return error_page(person, 400, "Bad filter", str(exc))
        async with self.rt.db.session() as session:
            found = await repo.incident_page(
                session, f, before=before, after=after, limit=PAGE_SIZE
            )
            services = await repo.incident_services(session)
        kept = {k: v for k, v in query.items() if k not in ("before", "after") and v}
        return page(
            "incidents.html.j2",
            {
                "person": person,
                "found": found,
                "filters": kept,
                "services": services,
                "statuses": [s.value for s in Status],
                "severities": list(Severity),
                "now": utcnow(),
            },
        )

    async def incident(self, request: Request, person: Person) -> Response:
        number = incident_number(request)
        if number is None:
            return not_found(person, "such incident")
        async with self.rt.db.session() as session:
            entries = await repo.timeline_after(session, number)
        doc = await postmortems.build(self.rt, number, resolve_names=True)
        if doc is None:
            return not_found(person, f"incident {number}")
        inc = doc.incident
        current = next((s for s in reversed(doc.spans) if s.ended_at is None), None)
        return page(
            "incident.html.j2",
            {
                "person": person,
                "inc": inc,
                "doc": doc,
                "names": doc.names,
                "entries": entries,
                "last_id": entries[-1][0] if entries else 0,
                "chart": Markup(chart_svg(doc)) if doc.spans else None,  # noqa: S704 - autoescaped SVG
                "stage_since": current.started_at if current else None,
                "now": utcnow(),
                "slack_url": _channel_url(inc.channel_id),
                "pd_links": doc.links,
                "open": inc.status is not Status.RESOLVED,
                "verdicts": ["suspect", "caused", "not_related"],
                "stages": list(Stage),
            },
        )

    async def postmortem(self, request: Request, person: Person) -> Response:
        number = incident_number(request)
        doc = await postmortems.build(self.rt, number) if number is not None else None
        if doc is None:
            return not_found(person, "such incident")
        return page("postmortem.html.j2", {"person": person, "inc": doc.incident})

    async def postmortem_file(self, request: Request, person: Person) -> Response:
        number = incident_number(request)
        ext = request.path_params.get("ext")
        if ext not in ("md", "html"):
            return not_found(person, "such file")
        fmt: Literal["markdown", "html"] = "html" if ext == "html" else "markdown"
        content = (
            await postmortems.render(self.rt, number, fmt, resolve_names=True)
            if number is not None
            else None
        )
        if content is None:
            return not_found(person, "such incident")
        headers = dict(HEADERS)
        if fmt == "html":  # its own page: its own CSP (no scripts, inline styles)
            headers["Content-Security-Policy"] = (
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                "frame-ancestors 'self'"
            )
        if request.query_params.get("download") == "1":
            headers["Content-Disposition"] = f'attachment; filename="INC-{number}-postmortem.{ext}"'
        media = "text/html" if fmt == "html" else "text/markdown"
        return Response(content, media_type=f"{media}; charset=utf-8", headers=headers)

    async def stats(self, request: Request, person: Person) -> Response:
        try:
            days = _int(request.query_params.get("days"), "days", 1, stats.MAX_DAYS) or 90
        except BadFilter as exc:
            return error_page(person, 400, "Bad filter", str(exc))
        report = await stats.gather(self.rt.db, days=days)
        charts = await stats.trend_svgs(self.rt.db, days=days)
        records = await stats.playbook_records(self.rt.db, days=days)
        titles = {p.id: p.title for p in self.rt.playbooks}
        past_drills = await drills.past_drills(self.rt.db, limit=DRILLS_SHOWN)
        return page(
            "stats.html.j2",
            {
                "person": person,
                "days": days,
                "report": report,
                "charts": [(s, Markup(svg)) for s, svg in charts],  # noqa: S704 - autoescaped SVG
                "records": records,
                "titles": titles,
                "drills": past_drills,
                "stages": [s for s in Stage],
            },
        )


def _channel_url(channel_id: str | None) -> str | None:
    return f"https://slack.com/app_redirect?channel={channel_id}" if channel_id else None
