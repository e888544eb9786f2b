"""Sign in with Slack end to end against the Slack fake: the happy path, and every bad input
the issue lists (forged or replayed state, another workspace, tampered or expired cookie,
missing CSRF), plus the console being absent without SLACK_CLIENT_ID."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from bot.devstack import DevStack
from bot.settings import Settings
from tests.helpers.console import (
    CONSOLE_ENV,
    SESSION_SECRET,
    browser,
    callback_query,
    csrf_of,
    signed_in,
    start_sign_in,
)
from tests.helpers.stack import MakeStack

pytestmark = pytest.mark.db


@pytest.fixture
def stack_env() -> dict[str, str]:
    return CONSOLE_ENV


@pytest.fixture
def alice(stack: DevStack) -> str:
    return stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")


async def test_without_a_client_id_every_console_url_is_404(make_stack: MakeStack) -> None:
    async with make_stack() as stack:
        assert stack.http is not None
        for path in ("/ui/", "/ui", "/ui/incidents/1", "/ui/stats", "/auth/login",
                     "/auth/callback?state=x&code=y", "/ui/static/console.css"):  # fmt: skip
            assert (await stack.http.get(path)).status_code == 404, path
        assert (await stack.http.post("/auth/logout")).status_code == 404


async def test_signing_in_lands_on_the_page_asked_for(stack: DevStack, alice: str) -> None:
    stack.slack.openid.sign_in_as(alice)
    async with browser(stack) as client:
        first = await client.get("/ui/stats")
        assert first.status_code == 303
        assert first.headers["location"].startswith("/auth/login?next=%2Fui%2Fstats")
        authorize = await start_sign_in(client, "/ui/stats")
        query = callback_query(authorize)
        done = await client.get("/auth/callback", params=query)
        assert done.status_code == 303 and done.headers["location"] == "/ui/stats"
        cookie = next(c for c in client.cookies.jar if c.name == "ooda_session")
        assert cookie.has_nonstandard_attr("HttpOnly") and not cookie.secure
        header = done.headers.get_list("set-cookie")
        assert any("ooda_session=" in h and "samesite=lax" in h.lower() for h in header)
        page = await client.get("/ui/stats")
        assert page.status_code == 200 and "Alice" in page.text
        # Slack was asked for the code's tokens, then for the person
        asked = [c.method for c in stack.slack.calls() if c.method.startswith("openid")]
        assert asked == ["openid.connect.token", "openid.connect.userInfo"]
        assert all(c.ok for c in stack.slack.calls() if c.method.startswith("openid"))


async def test_a_replayed_state_is_refused(stack: DevStack, alice: str) -> None:
    stack.slack.openid.sign_in_as(alice)
    async with browser(stack) as client:
        query = callback_query(await start_sign_in(client))
        sign_in_cookie = client.cookies.get("ooda_sign_in")
        assert (await client.get("/auth/callback", params=query)).status_code == 303
    async with browser(stack) as replay:  # the same callback URL and cookie, once more
        replay.cookies.set("ooda_sign_in", sign_in_cookie or "", path="/auth")
        again = await replay.get("/auth/callback", params=query)
        assert again.status_code == 400
        assert "used already" in again.text
        assert "ooda_session" not in replay.cookies


async def test_a_forged_state_is_refused(stack: DevStack, alice: str) -> None:
    stack.slack.openid.sign_in_as(alice)
    async with browser(stack) as client:
        query = callback_query(await start_sign_in(client))
        forged = await client.get("/auth/callback", params=query | {"state": "forged"})
        assert forged.status_code == 400 and "ooda_session" not in client.cookies
    async with browser(stack) as other:  # a state started in another browser
        assert (await other.get("/auth/callback", params=query)).status_code == 400
        assert "ooda_session" not in other.cookies
    async with browser(stack) as client:
        await start_sign_in(client)
        nothing = await client.get("/auth/callback")
        assert nothing.status_code == 400


async def test_a_bad_code_or_a_refusal_at_slack_is_400(stack: DevStack, alice: str) -> None:
    stack.slack.openid.sign_in_as(alice)
    async with browser(stack) as client:
        query = callback_query(await start_sign_in(client))
        bad = await client.get("/auth/callback", params=query | {"code": "not-issued"})
        assert bad.status_code == 400 and "ooda_session" not in client.cookies
        assert stack.slack.calls("openid.connect.token")[-1].error == "invalid_code"
    async with browser(stack) as client:
        query = callback_query(await start_sign_in(client))
        denied = await client.get(
            "/auth/callback", params={"state": query["state"], "error": "access_denied"}
        )
        assert denied.status_code == 400 and "access_denied" in denied.text


async def test_another_workspace_is_forbidden(stack: DevStack) -> None:
    stranger = stack.slack.add_user("mallory@other.example", "U0MALLORY", name="mallory")
    stack.slack.openid.sign_in_as(stranger, team_id="T0OTHERWS")
    async with browser(stack) as client:
        query = callback_query(await start_sign_in(client))
        answer = await client.get("/auth/callback", params=query)
        assert answer.status_code == 403
        assert "ooda_session" not in client.cookies
        assert (await client.get("/ui/")).status_code == 303  # still not signed in


def _session_cookie(value: dict[str, Any], *, age: float = 0) -> str:
    class Signed(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    serializer = URLSafeTimedSerializer(SESSION_SECRET, salt="ooda.console.session", signer=Signed)
    return serializer.dumps(value)


async def test_a_tampered_or_expired_cookie_goes_back_to_sign_in(
    stack: DevStack, alice: str
) -> None:
    person = {"u": alice, "t": "T0FAKE0001", "n": "Alice", "c": "token"}
    async with browser(stack) as client:
        client.cookies.set("ooda_session", _session_cookie(person))
        assert (await client.get("/ui/")).status_code == 200  # a cookie as we sign them works
        expired = _session_cookie(person, age=13 * 3600)  # the session lasts 12 h
        genuine, admin = _session_cookie(person), _session_cookie(person | {"u": "U0ADMIN"})
        tampered = admin.split(".")[0] + "." + genuine.split(".", 1)[1]  # alice's signature
        unsigned = _session_cookie(person).rsplit(".", 1)[0] + ".forged"
        for value in (expired, tampered, unsigned, "garbage"):
            client.cookies.set("ooda_session", value)
            answer = await client.get("/ui/incidents/1")
            assert answer.status_code == 303, value
            assert answer.headers["location"].startswith("/auth/login?next=")


async def test_forms_need_the_csrf_token(stack: DevStack, alice: str) -> None:
    async with signed_in(stack, alice) as client:
        page = await client.get("/ui/")
        token = csrf_of(page.text)
        for form in ({}, {"csrf": ""}, {"csrf": token + "x"}):
            refused = await client.post("/auth/logout", data=form)
            assert refused.status_code == 403, form
            note = await client.post("/ui/incidents/1/notes", data=form | {"text": "hi"})
            assert note.status_code == 403, form
        assert (await client.get("/ui/")).status_code == 200  # still signed in
        out = await client.post("/auth/logout", data={"csrf": token})
        assert out.status_code == 303 and out.headers["location"] == "/auth/signed-out"
        assert "ooda_session" not in client.cookies
        assert (await client.get("/ui/")).status_code == 303


async def test_next_is_only_ever_a_console_page(stack: DevStack, alice: str) -> None:
    stack.slack.openid.sign_in_as(alice)
    for target in ("https://evil.example/", "//evil.example", "/slack/events", "/ui\\@evil"):
        async with browser(stack) as client:
            query = callback_query(await start_sign_in(client, target))
            done = await client.get("/auth/callback", params=query)
            assert done.headers["location"] == "/ui/", target


async def test_an_id_token_for_another_sign_in_is_refused(stack: DevStack, alice: str) -> None:
    """A code Slack issued for one sign-in (its nonce) brought back under another's state."""
    stack.slack.openid.sign_in_as(alice)
    async with browser(stack) as client:
        first = await client.get("/auth/login")
        second = await client.get("/auth/login")  # the browser's cookie now names this one
        second_state = parse_qs(urlsplit(second.headers["location"]).query)["state"][0]
        url = urlsplit(first.headers["location"])
        query = {k: v[0] for k, v in parse_qs(url.query).items()} | {"state": second_state}
        authorize = await client.get(url._replace(query="").geturl(), params=query)
        answer = await client.get("/auth/callback", params=callback_query(authorize))
        assert answer.status_code == 400
        assert "ooda_session" not in client.cookies


async def test_an_oversized_form_is_refused(stack: DevStack, alice: str) -> None:
    async with signed_in(stack, alice) as client:
        token = csrf_of((await client.get("/ui/")).text)
        huge = await client.post(
            "/ui/incidents/1/notes", data={"csrf": token, "text": "x" * 70_000}
        )
        assert huge.status_code == 413


def test_serve_needs_the_console_secrets_once_a_client_id_is_set() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", SLACK_CLIENT_ID="1.2"
    )
    assert settings.missing_for_serve(socket_mode=False) == [
        "SLACK_CLIENT_SECRET",
        "OODA_SESSION_SECRET",
    ]
    assert not settings.console_enabled


async def test_the_session_cookie_is_secure_behind_https(make_stack: MakeStack) -> None:
    public = {"OODA_PUBLIC_URL": "https://ooda.example.com"}
    async with make_stack(env=CONSOLE_ENV | public) as stack:
        alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
        stack.slack.openid.sign_in_as(alice)
        async with browser(stack) as client:
            login = await client.get("/auth/login")
            assert (
                "redirect_uri=https%3A%2F%2Fooda.example.com%2Fauth%2Fcallback"
                in (login.headers["location"])
            )
            authorize = await client.get(login.headers["location"])
            location = urlsplit(authorize.headers["location"])
            assert location.netloc == "ooda.example.com"
            query = {k: v[0] for k, v in parse_qs(location.query).items()}
            # the browser would send its Secure sign-in cookie to https://ooda.example.com
            client.cookies.set("ooda_sign_in", login.cookies["ooda_sign_in"], path="/auth")
            done = await client.get("/auth/callback", params=query)
            assert done.status_code == 303
            [session] = [h for h in done.headers.get_list("set-cookie") if "ooda_session=" in h]
            assert "secure" in session.lower() and "httponly" in session.lower()
