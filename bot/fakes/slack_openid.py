"""Sign in with Slack (OpenID Connect) on the Slack fake: the authorize page a browser is sent
to, and the Web API methods `openid.connect.token` and `openid.connect.userInfo`.

The authorize page signs in whoever the test (or `ooda demo --ui`) chose with `sign_in_as`
and redirects straight back with a code, as Slack does once a person has clicked "Allow"."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from bot.fakes.slack_state import SlackState

METHODS = ("openid.connect.token", "openid.connect.userInfo")


@dataclass(frozen=True)
class Grant:
    """Who signed in, for which app and redirect, and the nonce the app sent."""

    user_id: str
    team_id: str
    client_id: str
    redirect_uri: str
    nonce: str | None


@dataclass
class OpenIdClient:
    """The one app registered for Sign in with Slack: its id, secret and redirect URLs."""

    client_id: str
    client_secret: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OpenIdProvider:
    """Codes and access tokens issued, under the fake's lock (`state.lock`)."""

    def __init__(self, state: SlackState) -> None:
        self.state = state
        self.client: OpenIdClient | None = None
        self.signed_in: tuple[str, str] | None = None  # (user id, team id)
        self.codes: dict[str, Grant] = {}
        self.tokens: dict[str, Grant] = {}

    def register(self, client_id: str, client_secret: str) -> None:
        with self.state.lock:
            self.client = OpenIdClient(client_id, client_secret)

    def sign_in_as(self, user_id: str | None, *, team_id: str | None = None) -> None:
        """The person the authorize page signs in next (None: nobody, the page says so)."""
        with self.state.lock:
            self.signed_in = None if user_id is None else (user_id, team_id or self.state.team_id)

    # -- the browser's side ------------------------------------------------------------------
    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        redirect_uri = query.get("redirect_uri", "")
        with self.state.lock:
            client, person = self.client, self.signed_in
            if client is None or query.get("client_id") != client.client_id:
                return PlainTextResponse("unknown client_id", status_code=400)
            if not redirect_uri.startswith(("http://", "https://")):
                return PlainTextResponse("redirect_uri is required", status_code=400)
            scopes = query.get("scope", "").split()
            if query.get("response_type") != "code" or "openid" not in scopes:
                return PlainTextResponse("response_type=code and scope openid", status_code=400)
            if person is None:
                return PlainTextResponse("nobody is signed in to the fake Slack", status_code=403)
            code = secrets.token_urlsafe(16)
            self.codes[code] = Grant(
                person[0], person[1], client.client_id, redirect_uri, query.get("nonce")
            )
        back = {"code": code, "state": query.get("state", "")}
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(back)}", status_code=302)

    # -- the app's side (Web API methods) ----------------------------------------------------
    def call(self, method: str, params: dict[str, Any], authorization: str) -> dict[str, Any]:
        with self.state.lock:
            if method == "openid.connect.token":
                return self._token(params, authorization)
            return self._user_info(authorization)

    def _token(self, params: dict[str, Any], authorization: str) -> dict[str, Any]:
        client_id, client_secret = _basic(authorization)
        client_id = client_id or str(params.get("client_id") or "")
        client_secret = client_secret or str(params.get("client_secret") or "")
        client = self.client
        if client is None or client_id != client.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if not hmac.compare_digest(client_secret, client.client_secret):
            return {"ok": False, "error": "bad_client_secret"}
        grant = self.codes.pop(str(params.get("code") or ""), None)  # a code works once
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        if params.get("redirect_uri") != grant.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        access_token = "xoxp-" + secrets.token_hex(12)
        self.tokens[access_token] = grant
        return {
            "ok": True,
            "access_token": access_token,
            "token_type": "Bearer",
            "id_token": self._id_token(grant, client.client_secret),
        }

    def _user_info(self, authorization: str) -> dict[str, Any]:
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        grant = self.tokens.get(token)
        if grant is None:
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, **self._claims(grant)}

    def _claims(self, grant: Grant) -> dict[str, Any]:
        profile = self.state.user_object(grant.user_id)
        return {
            "sub": grant.user_id,
            "https://slack.com/user_id": grant.user_id,
            "https://slack.com/team_id": grant.team_id,
            "email": profile["profile"]["email"],
            "email_verified": True,
            "name": profile["real_name"],
            "given_name": profile["real_name"].split(" ")[0],
            "https://slack.com/team_name": "Fake Workspace",
        }

    def _id_token(self, grant: Grant, key: str) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://slack.com",
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 3600,
            "nonce": grant.nonce,
            **self._claims(grant),
        }
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(signature)}"


def _basic(authorization: str) -> tuple[str, str]:
    if not authorization.lower().startswith("basic "):
        return "", ""
    try:
        decoded = base64.b64decode(authorization[6:].strip()).decode()
    except ValueError:
        return "", ""
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret
