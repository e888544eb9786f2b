"""Every console page needs a signed-in person; every form, their CSRF token too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.console.session import Person, Sessions
from bot.console.templating import page

MAX_FORM_BYTES = 64 * 1024

PersonHandler = Callable[[Request, Person], Awaitable[Response]]
FormHandler = Callable[[Request, Person, dict[str, str]], Awaitable[Response]]


def to_sign_in(request: Request) -> Response:
    """Back to sign-in (no session, or an expired or tampered one), then back here."""
    path = request.url.path if request.method == "GET" else request.headers.get("referer", "")
    if request.method == "GET" and request.url.query:
        path += "?" + request.url.query
    return RedirectResponse("/auth/login?" + urlencode({"next": path}), status_code=303)


def error_page(person: Person | None, status: int, title: str, detail: str) -> Response:
    return page(
        "error.html.j2", {"title": title, "detail": detail, "person": person}, status=status
    )


def signed_in(
    sessions: Sessions, handler: PersonHandler
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        person = sessions.person(request)
        if person is None:
            return to_sign_in(request)
        return await handler(request, person)

    return endpoint


def form(sessions: Sessions, handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
    """A POSTed urlencoded form from a signed-in person carrying their CSRF token."""

    async def endpoint(request: Request) -> Response:
        person = sessions.person(request)
        if person is None:
            return to_sign_in(request)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return error_page(person, 413, "Too long", "That form is over 64 KB.")
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if not person.csrf_ok(fields.get("csrf")):
            return error_page(person, 403, "Refused", "The form's CSRF token is missing or wrong.")
        return await handler(request, person, fields)

    return endpoint
