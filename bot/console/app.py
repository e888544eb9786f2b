"""The console's routes, mounted by bot.compose into the one ASGI app when Sign in with Slack
is configured (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, OODA_SESSION_SECRET). Without it none of
these exist: every /ui and /auth URL answers 404."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.console.auth import Auth
from bot.console.guard import error_page, form, signed_in
from bot.console.live import Live
from bot.console.pages import Pages
from bot.console.session import Sessions
from bot.console.templating import STATIC
from bot.console.writes import Writes
from bot.service.runtime import Runtime
from bot.settings import secret


def console_routes(rt: Runtime) -> list[BaseRoute]:
    settings = rt.settings
    if not settings.console_enabled:
        return []
    sessions = Sessions(
        secret(settings.session_secret) or "",
        hours=settings.session_hours,
        secure=(settings.public_url or "").startswith("https://"),
    )
    auth, pages, writes, live = Auth(rt, sessions), Pages(rt), Writes(rt), Live(rt, sessions)

    async def to_list(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    async def unknown(request: Request, person: object) -> Response:
        return error_page(sessions.person(request), 404, "Not found", "There is no such page.")

    def get(path: str, handler: object) -> Route:
        return Route(path, signed_in(sessions, handler), methods=["GET"])  # type: ignore[arg-type]

    def post(path: str, handler: object) -> Route:
        return Route(path, form(sessions, handler), methods=["POST"])  # type: ignore[arg-type]

    return [
        Route("/auth/login", auth.login, methods=["GET"]),
        Route("/auth/callback", auth.callback, methods=["GET"]),
        post("/auth/logout", auth.logout),
        Route("/auth/signed-out", auth.signed_out, methods=["GET"]),
        Route("/ui", to_list, methods=["GET"]),
        Mount("/ui/static", StaticFiles(directory=STATIC), name="console-static"),
        get("/ui/", pages.incidents),
        get("/ui/stats", pages.stats),
        get("/ui/incidents/{number}", pages.incident),
        Route("/ui/incidents/{number}/live", live.stream, methods=["GET"]),
        get("/ui/incidents/{number}/postmortem", pages.postmortem),
        get("/ui/incidents/{number}/postmortem.{ext:str}", pages.postmortem_file),
        post("/ui/incidents/{number}/notes", writes.note),
        post("/ui/incidents/{number}/verdicts", writes.verdict),
        post("/ui/incidents/{number}/postmortem", writes.postmortem),
        get("/ui/{rest:path}", unknown),
    ]
