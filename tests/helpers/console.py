"""The web console in tests: its settings, and a person signed in through Sign in with Slack
against the Slack fake (login → the fake's authorize page → callback), as a browser does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx

from bot.devstack import DevStack

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "console-client-secret"
SESSION_SECRET = "console-session-secret-for-tests"
CONSOLE_ENV = {
    "SLACK_CLIENT_ID": CLIENT_ID,
    "SLACK_CLIENT_SECRET": CLIENT_SECRET,
    "OODA_SESSION_SECRET": SESSION_SECRET,
}


def browser(stack: DevStack) -> httpx.AsyncClient:
    """A client with its own cookie jar that follows no redirect by itself."""
    return httpx.AsyncClient(base_url=stack.url, timeout=30, follow_redirects=False)


async def start_sign_in(client: httpx.AsyncClient, next_path: str = "/ui/") -> httpx.Response:
    """GET /auth/login, then the fake's authorize page: its redirect back to our callback."""
    login = await client.get("/auth/login", params={"next": next_path})
    assert login.status_code == 302, login.text
    authorize = await client.get(login.headers["location"])
    assert authorize.status_code == 302, authorize.text
    return authorize


def callback_query(authorize: httpx.Response) -> dict[str, str]:
    url = urlsplit(authorize.headers["location"])
    assert url.path == "/auth/callback", url
    return {k: v[0] for k, v in parse_qs(url.query).items()}


@contextlib.asynccontextmanager
async def signed_in(
    stack: DevStack, user: str, *, next_path: str = "/ui/"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in as `user` (a member of the bot's workspace)."""
    stack.slack.openid.sign_in_as(user)
    async with browser(stack) as client:
        authorize = await start_sign_in(client, next_path)
        done = await client.get("/auth/callback", params=callback_query(authorize))
        assert done.status_code == 303, done.text
        assert "ooda_session" in client.cookies
        yield client


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
