"""A stateful fake of the Slack Web API (what slack_sdk's AsyncWebClient and Bolt's respond() call).

Serve it and point the bot at it: ``SLACK_API_URL = f"{fake.url}/api/"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.fakes import slack_openid
from bot.fakes import slack_render as render
from bot.fakes._common import Failure, FakeService, random_id, utcnow
from bot.fakes.slack_methods import METHODS
from bot.fakes.slack_state import SlackError, SlackState

_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata", "user_ids")

TEAM_ID = "T0FAKE0001"
BOT_USER_ID = "U0BOT00001"
BOT_ID = "B0BOT00001"


@dataclass(frozen=True)
class SlackCall:
    """One Web API call (or a response_url post, method "response_url") the fake received."""

    method: str
    params: dict[str, Any]
    at: datetime = field(default_factory=utcnow)
    ok: bool = True
    error: str | None = None
    status: int = 200


class FakeSlack(FakeService):
    """Slack Web API at ``POST|GET /api/{method}``, uploads at ``/upload/{file_id}``,
    response_url posts at ``/response/{token}``. Thread-safe; every call is recorded."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        channels: list[str] | None = None,
        token: str | None = None,
        bot_name: str = "ooda-bot",
        scopes: list[str] | None = None,
    ) -> None:
        self.token = token
        # The bot token's granted scopes, sent as `x-oauth-scopes` on every authenticated answer
        # as Slack does (None: no header). Change it to play a token missing a scope.
        self.scopes = scopes
        self.bot_name = bot_name
        self._calls: list[SlackCall] = []
        self._storm: tuple[int, int, int] = (0, 1, 0)  # every n-th call 429s, Retry-After, count
        super().__init__()
        self.state = SlackState(
            lock=self._lock,
            bot_user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            team_id=TEAM_ID,
            bot_name=bot_name,
            base_url=lambda: self.url,
        )
        self.openid = slack_openid.OpenIdProvider(self.state)
        for email, user_id in (users or {}).items():
            self.add_user(email, user_id)
        for name in channels or []:
            self.add_channel(name)

    def _routes(self) -> list[Any]:
        return [
            Route("/api/{method}", self._api, methods=["GET", "POST"]),
            Route("/upload/{file_id}", self._upload, methods=["POST", "PUT"]),
            Route("/response/{token}", self._response_url, methods=["POST"]),
            Route("/openid/connect/authorize", self._authorize, methods=["GET"]),
        ]

    # -- setup helpers --------------------------------------------------------------------
    @property
    def users(self) -> dict[str, str]:
        """email -> user id (a copy; use add_user to change)."""
        with self._lock:
            return dict(self.state.users)

    def add_user(self, email: str, user_id: str | None = None, *, name: str | None = None) -> str:
        """Register a workspace user (users.lookupByEmail, users.info, mention rendering)."""
        return self.state.add_user(email, user_id or random_id("U", 10), name=name)

    def add_channel(
        self, name: str, *, id: str | None = None, is_member: bool = True, is_private: bool = False
    ) -> dict[str, Any]:
        """Pre-create a channel (e.g. the announcements channel) as if it already existed."""
        with self._lock:
            chan = self.state.new_channel(name, id=id, is_private=is_private, creator="U0ADMIN001")
            if not is_member:
                chan["members"].discard(BOT_USER_ID)
            return self.state.public_channel(chan)

    def join(self, channel: str, user: str) -> None:
        """A person joins a channel on their own (conversations.members lists them)."""
        with self._lock:
            cid = self.state.resolve(channel)
            if cid is None:
                raise KeyError(channel)
            self.state.channels[cid]["members"].add(user)

    def user_says(self, channel: str, user: str, text: str) -> str:
        """A person posts a message (as if typed in Slack); returns its ts."""
        with self._lock:
            cid = self.state.resolve(channel)
            if cid is None:
                raise KeyError(channel)
            ts = self.state.next_ts()
            msg: dict[str, Any] = {
                "channel": cid,
                "ts": ts,
                "text": text,
                "blocks": None,
                "attachments": None,
                "thread_ts": None,
                "metadata": None,
                "user": user,
                "bot_id": None,
                "reactions": {},
                "edits": 0,
                "edited_ts": None,
                "deleted": False,
            }
            self.state.messages.append(msg)
            self.state.index[(cid, ts)] = msg
            return ts

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
        channel: str | None = None,
        applied: bool = False,
    ) -> None:
        """The next `times` calls of `method` (to `channel`, if given) answer `status` (429
        carries Retry-After). status=200 gives a plain Slack error: ``{"ok": false, ...}``.
        `applied`: the call takes effect first, as when Slack's answer is lost on the way."""
        if error is None:
            error = {429: "ratelimited", 200: "internal_error"}.get(status, "fatal_error")
        key = f"{method}@{channel}" if channel else method
        self._add_failure(Failure(key, status, times, retry_after, error, applied=applied))

    def rate_limit_every(self, n: int, *, retry_after: int = 1) -> None:
        """From now on every `n`-th Web API call answers 429 with Retry-After (0 stops it)."""
        with self._lock:
            self._storm = (n, retry_after, 0)

    def response_url(self, token: str = "x") -> str:  # noqa: S107 - not a secret
        """A response_url for slash command / interaction payloads that lands on this fake."""
        return f"{self.url}/response/{token}"

    # -- inspection ----------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Current state of posted messages (edits applied, deleted ones gone), in post order.
        `channel` may be an id, a name or #name. Ephemeral messages are in `ephemerals()`."""
        with self._lock:
            cid = None if channel is None else self.state.resolve(channel)
            if channel is not None and cid is None:
                return []
            return [
                self.state.public_message(m)
                for m in self.state.messages
                if not m["deleted"] and (cid is None or m["channel"] == cid)
            ]

    def ephemerals(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            cid = None if channel is None else self.state.resolve(channel)
            return [copy.deepcopy(m) for m in self.state.ephemerals if cid in (None, m["channel"])]

    def channel_by_name(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            chan = self.state.channels.get(self.state.resolve(name) or "")
            return self.state.public_channel(chan) if chan else None

    def channel(self, id_or_name: str) -> dict[str, Any] | None:
        return self.channel_by_name(id_or_name)

    @property
    def channels(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.state.public_channel(c) for c in self.state.channels.values()]

    @property
    def files(self) -> list[dict[str, Any]]:
        """Completed uploads: id, filename, title, channel, initial_comment, thread_ts,
        content (bytes) and text (str, or None when not UTF-8)."""
        with self._lock:
            return [dict(f) for f in self.state.files]

    @property
    def views(self) -> list[dict[str, Any]]:
        """Views opened/pushed (current state after views.update), in order."""
        with self._lock:
            return [copy.deepcopy(v) for v in self.state.views.values()]

    def transcript(self, *, timestamps: bool = False) -> str:
        """Everything the bot did in Slack, chronologically, as readable text."""
        with self._lock:
            events = list(self.state.events)
            lines: list[str] = []
            for at, kind, data in events:
                body = render.event_lines(kind, data, self.state.label)
                prefix = at.strftime("%H:%M:%S ") if timestamps else ""
                lines.append(prefix + body[0])
                lines.extend(" " * (len(prefix) + 4) + line for line in body[1:])
            return "\n".join(lines)

    async def wait_for(self, predicate: Callable[[FakeSlack], Any], timeout: float = 10.0) -> Any:
        """Poll `predicate(self)` until truthy; return its value. TimeoutError with a dump."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self)
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(timeout))
            await asyncio.sleep(0.02)

    def wait_for_sync(self, predicate: Callable[[FakeSlack], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self)
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(timeout))
            time.sleep(0.02)

    def _timeout_message(self, timeout: float) -> str:
        calls = "\n".join(
            f"  {c.at:%H:%M:%S.%f} {c.method} -> {'ok' if c.ok else c.error}"
            for c in self.calls()[-25:]
        )
        return (
            f"FakeSlack: condition not met within {timeout}s\n"
            f"--- transcript ---\n{self.transcript() or '(nothing posted)'}\n"
            f"--- last calls ---\n{calls or '  (none)'}"
        )

    # -- HTTP ----------------------------------------------------------------------------
    def _storm_hits(self) -> bool:
        with self._lock:
            every, retry_after, count = self._storm
            if every <= 0:
                return False
            self._storm = (every, retry_after, count + 1)
            return (count + 1) % every == 0

    def _record(self, call: SlackCall) -> None:
        with self._lock:
            self._calls.append(call)

    async def _api(self, request: Request) -> Response:
        self._learn_url(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        method = request.path_params["method"]
        params = await _params(request)
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else params.get("token")
        params.pop("token", None)

        status, headers = 200, {}
        if token and (self.token is None or token == self.token) and self.scopes is not None:
            headers["x-oauth-scopes"] = ",".join(self.scopes)
        if method in slack_openid.METHODS:  # their own credentials: the app's, a person's
            body: dict[str, Any] = self.openid.call(method, params, auth)
        elif not token:
            body = {"ok": False, "error": "not_authed"}
        elif self.token is not None and token != self.token:
            body = {"ok": False, "error": "invalid_auth"}
        elif self._storm_hits():
            status = 429
            body = {"ok": False, "error": "ratelimited"}
            headers["Retry-After"] = str(self._storm[1])
        elif failure := self._take_failure(
            lambda key: key in (method, f"{method}@{params.get('channel')}")
        ):
            status = failure.status
            body = {"ok": False, "error": failure.error}
            if failure.applied and method in METHODS:
                with self._lock, contextlib.suppress(SlackError):
                    METHODS[method](self.state, params)
            if status == 429:
                headers["Retry-After"] = str(failure.retry_after)
        elif method not in METHODS:
            body = {"ok": False, "error": "unknown_method"}
        else:
            try:
                with self._lock:
                    body = {"ok": True, **METHODS[method](self.state, params)}
            except SlackError as exc:
                body = {"ok": False, "error": exc.error, **exc.extra}
        self._record(
            SlackCall(method, params, ok=body["ok"], error=body.get("error"), status=status)
        )
        return JSONResponse(body, status_code=status, headers=headers)

    async def _authorize(self, request: Request) -> Response:
        self._learn_url(request)
        return await self.openid.authorize(request)

    async def _upload(self, request: Request) -> Response:
        self._learn_url(request)
        file_id = request.path_params["file_id"]
        content = _upload_content(request.headers.get("content-type", ""), await request.body())
        with self._lock:
            pending = self.state.pending_uploads.get(file_id)
            if pending is not None:
                pending["content"] = content
        self._record(
            SlackCall(
                "upload",
                {"file_id": file_id, "size": len(content)},
                ok=pending is not None,
                error=None if pending is not None else "file_not_found",
                status=200 if pending is not None else 404,
            )
        )
        if pending is None:
            return PlainTextResponse("file not found", status_code=404)
        return PlainTextResponse(f"OK - {len(content)}")

    async def _response_url(self, request: Request) -> Response:
        self._learn_url(request)
        params = await _params(request)
        params["token"] = request.path_params["token"]
        with self._lock:
            self.state.event("response_url", dict(params))
        self._record(SlackCall("response_url", params))
        return PlainTextResponse("ok")


async def _params(request: Request) -> dict[str, Any]:
    """Query string + form or JSON body, with JSON-string fields (blocks, view...) decoded."""
    params: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if raw:
        if "json" in ctype:
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                params.update(decoded)
        elif "multipart/" not in ctype:
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    if "payload" in params and isinstance(params["payload"], str):  # form-encoded response_url
        with contextlib.suppress(ValueError):
            params.update(json.loads(params.pop("payload")))
    for key in _JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params


def _upload_content(content_type: str, raw: bytes) -> bytes:
    """Raw bodies are the file; for multipart bodies take the first part's payload."""
    if not content_type.startswith("multipart/"):
        return raw
    msg = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    for part in msg.iter_parts():
        payload = part.get_payload(decode=True)
        if payload is not None:
            return bytes(payload)
    return raw
