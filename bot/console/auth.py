"""Sign in with Slack (OpenID Connect): /auth/login sends the browser to Slack with a state
and a nonce, /auth/callback checks them, exchanges the code and lets in members of the bot's
own workspace only, /auth/logout ends the session."""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.console.session import SIGN_IN_SECONDS, Person, Sessions
from bot.console.templating import page
from bot.domain.model import utcnow
from bot.service.runtime import Runtime
from bot.settings import secret
from bot.slack.out import openid
from bot.storage import repo

log = logging.getLogger(__name__)

SCOPES = "openid email profile"


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a console page of ours, never another site."""
    if path and path.startswith("/ui") and not path.startswith("//") and "\\" not in path:
        return path[:500]
    return "/ui/"


def callback_url(rt: Runtime, request: Request) -> str:
    base = rt.settings.public_url or str(request.base_url)
    return base.rstrip("/") + "/auth/callback"


def refused(status: int, title: str, detail: str) -> Response:
    return page("error.html.j2", {"title": title, "detail": detail, "person": None}, status=status)


class Auth:
    def __init__(self, rt: Runtime, sessions: Sessions) -> None:
        self.rt = rt
        self.sessions = sessions
        self._team_id: str | None = rt.settings.slack_team_id

    async def login(self, request: Request) -> Response:
        settings = self.rt.settings
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        now = utcnow()
        async with self.rt.db.transaction() as session:
            await repo.start_sign_in(
                session,
                state,
                nonce,
                safe_next(request.query_params.get("next")),
                at=now,
                expired=now - timedelta(seconds=SIGN_IN_SECONDS),
            )
        query = {
            "response_type": "code",
            "scope": SCOPES,
            "client_id": settings.slack_client_id or "",
            "state": state,
            "nonce": nonce,
            "redirect_uri": callback_url(self.rt, request),
        }
        if settings.slack_team_id:
            query["team"] = settings.slack_team_id
        response = RedirectResponse(f"{settings.slack_authorize_url}?{urlencode(query)}", 302)
        self.sessions.remember_state(response, state)
        return response

    async def callback(self, request: Request) -> Response:
        params = request.query_params
        state, code = params.get("state") or "", params.get("code") or ""
        if params.get("error"):
            return refused(400, "Sign-in cancelled", f"Slack answered: {params['error'][:100]}")
        remembered = self.sessions.remembered_state(request)
        if not state or not remembered or not hmac.compare_digest(state, remembered):
            return refused(400, "Sign-in refused", "This sign-in was not started here.")
        now = utcnow()
        async with self.rt.db.transaction() as session:
            taken = await repo.take_sign_in(
                session, state, expired=now - timedelta(seconds=SIGN_IN_SECONDS)
            )
        if taken is None:
            return refused(400, "Sign-in refused", "This sign-in was used already or expired.")
        nonce, next_path = taken
        if not code:
            return refused(400, "Sign-in refused", "Slack sent no code.")
        try:
            person = await self._person(request, code, nonce)
        except openid.SignInError as exc:
            log.info("console sign-in refused: %s", exc)
            return refused(400, "Sign-in refused", "Slack did not confirm who you are.")
        if person.team_id != await self.team_id():
            return refused(403, "Not this workspace", "Only members of our Slack workspace.")
        response = RedirectResponse(next_path, status_code=303)
        self.sessions.forget_state(response)
        self.sessions.sign_in(response, person.user_id, person.team_id, person.name)
        return response

    async def _person(self, request: Request, code: str, nonce: str) -> openid.SlackPerson:
        settings = self.rt.settings
        tokens = await openid.exchange_code(
            settings.slack_api_url,
            client_id=settings.slack_client_id or "",
            client_secret=secret(settings.slack_client_secret) or "",
            code=code,
            redirect_uri=callback_url(self.rt, request),
        )
        if tokens.id_token is not None:
            claims = openid.id_token_claims(tokens.id_token)
            if claims.get("nonce") != nonce or claims.get("aud") != settings.slack_client_id:
                raise openid.SignInError("id_token nonce or audience mismatch")
        return await openid.person(settings.slack_api_url, tokens.access_token)

    async def team_id(self) -> str:
        """OODA_SLACK_TEAM_ID, else the bot token's workspace (asked once)."""
        if self._team_id is None:
            self._team_id = await openid.bot_team_id(self.rt.slack.client)
        return self._team_id

    async def logout(self, request: Request, person: Person, fields: dict[str, str]) -> Response:
        response = RedirectResponse("/auth/signed-out", status_code=303)
        self.sessions.sign_out(response)
        return response

    async def signed_out(self, request: Request) -> Response:
        return page("signed_out.html.j2", {"person": None})
