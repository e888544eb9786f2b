"""Who is signed in: a signed, expiring session cookie (itsdangerous) holding the person and
their CSRF token; and the short-lived cookie that ties a sign-in's state to this browser."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "ooda_session"
SIGN_IN_COOKIE = "ooda_sign_in"
SIGN_IN_SECONDS = 600  # from the redirect to Slack to the callback


@dataclass(frozen=True)
class Person:
    user_id: str
    team_id: str
    name: str
    csrf: str

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf)


class Sessions:
    def __init__(self, secret: str, *, hours: float, secure: bool) -> None:
        self.max_age = int(hours * 3600)
        self.secure = secure
        self._session = URLSafeTimedSerializer(secret, salt="ooda.console.session")
        self._sign_in = URLSafeTimedSerializer(secret, salt="ooda.console.sign-in")

    def person(self, request: Request) -> Person | None:
        """The signed-in person; None when the cookie is absent, tampered with or expired."""
        data = _load(self._session, request.cookies.get(SESSION_COOKIE), self.max_age)
        if not isinstance(data, dict):
            return None
        try:
            return Person(str(data["u"]), str(data["t"]), str(data["n"]), str(data["c"]))
        except KeyError:
            return None

    def sign_in(self, response: Response, user_id: str, team_id: str, name: str) -> None:
        value = self._session.dumps(
            {"u": user_id, "t": team_id, "n": name[:80], "c": secrets.token_urlsafe(24)}
        )
        self._set(response, SESSION_COOKIE, value, self.max_age)

    def sign_out(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=self.secure, httponly=True)

    def remember_state(self, response: Response, state: str) -> None:
        self._set(response, SIGN_IN_COOKIE, self._sign_in.dumps(state), SIGN_IN_SECONDS)

    def remembered_state(self, request: Request) -> str | None:
        data = _load(self._sign_in, request.cookies.get(SIGN_IN_COOKIE), SIGN_IN_SECONDS)
        return data if isinstance(data, str) else None

    def forget_state(self, response: Response) -> None:
        response.delete_cookie(SIGN_IN_COOKIE, path="/auth", secure=self.secure, httponly=True)

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/auth" if name == SIGN_IN_COOKIE else "/",
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )


def _load(serializer: URLSafeTimedSerializer, value: str | None, max_age: int) -> Any:
    if not value:
        return None
    try:
        return serializer.loads(value, max_age=max_age)
    except BadSignature:  # SignatureExpired is one too
        return None
