"""Builds the Bolt app for a runtime: listeners registered per concern, no module-level app."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot import context, tracing
from bot.service.runtime import Runtime
from bot.settings import secret
from bot.slack.listen import actions, commands, events, interactions, modals

log = logging.getLogger(__name__)


class _CountingApp(AsyncApp):
    """Bolt, counting the requests it is answering (see interactions.Acks)."""

    def __init__(self, rt: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.acks = interactions.acks(rt)

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        self.acks.enter()
        try:
            # Over HTTP and Socket Mode alike: the request's lines, and its jobs', carry its id.
            delivery = slack_request_id(req.body)
            with (
                context.bound(delivery=delivery),
                tracing.span("slack request", attributes={"ooda.delivery": delivery or ""}),
            ):
                return await super().async_dispatch(req)
        finally:
            self.acks.leave()


# slack_bolt switches itself into multi-workspace OAuth mode (an installation store, no bot
# token) when it sees both of these in the environment; ours are the console's Sign in with
# Slack credentials, not an app distribution's.
_OAUTH_VARIABLES = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
_environ_lock = threading.Lock()


@contextlib.contextmanager
def _without_oauth_environment() -> Iterator[None]:
    """Hide the OAuth variables from Bolt while it is built (it reads them only then)."""
    with _environ_lock:
        saved = {name: os.environ.pop(name) for name in _OAUTH_VARIABLES if name in os.environ}
        try:
            yield
        finally:
            os.environ.update(saved)


def slack_request_id(body: Any) -> str | None:
    """`slack:<id>` for a request's log lines: the Events API's event_id, else the trigger_id
    (commands, shortcuts, clicks, submissions), else the view's id."""
    if not isinstance(body, dict):
        return None
    view = body.get("view")
    for value in (
        body.get("event_id"),
        body.get("trigger_id"),
        view.get("id") if isinstance(view, dict) else None,
    ):
        if isinstance(value, str) and value:
            return f"slack:{value[:80]}"
    return None


def build_bolt_app(rt: Runtime) -> AsyncApp:
    """A single-workspace app on the bot token, whatever SLACK_CLIENT_ID/SECRET say."""
    with _without_oauth_environment():
        app = _build(rt)
    register_listeners(app, rt)
    app.error(_report_failure(rt))
    return app


def _build(rt: Runtime) -> AsyncApp:
    return _CountingApp(
        rt,
        client=rt.slack.client,
        signing_secret=secret(rt.settings.slack_signing_secret) or "",
        # The listener runs before the 200: what changes state is stored first, then acked
        # (bot.slack.listen.interactions); what only answers acks and finishes in a tracked task.
        process_before_response=True,
        # Over HTTP every request is verified (`serve` refuses to start without the secret);
        # Socket Mode has no /slack/events route at all.
        request_verification_enabled=rt.settings.slack_signing_secret is not None,
    )


def _report_failure(rt: Runtime) -> Any:
    """A listener raised. Before its ack: Slack gets a 500 (nothing was stored). After it: the
    ack already given goes out at once. Either way the person is told, after the answer."""

    async def on_error(
        error: Exception, body: Any, request: AsyncBoltRequest
    ) -> BoltResponse | None:
        interactions.report_after_ack(rt, body if isinstance(body, dict) else {}, error)
        acked = request.context.ack.response
        if acked is None:
            return None
        return BoltResponse(status=acked.status, body=acked.body, headers=acked.headers)

    return on_error


def register_listeners(app: AsyncApp, rt: Runtime) -> None:
    """Every listener, in one place: the manifest test replays this to see what we listen to."""
    commands.register(app, rt)
    actions.register(app, rt)
    modals.register(app, rt)
    events.register(app, rt)
    events.register_fallback(app)  # last: it matches every event type
    register_interaction_fallback(app)  # last: it matches every action_id and callback_id


ANY_ID = re.compile(r".*")


def register_interaction_fallback(app: AsyncApp) -> None:
    """Register last: a click or submission nobody listens for (an old message's button, another
    app's view) is acked and ignored; Bolt would answer 404 and Slack shows the user an error.
    A warning names the id: a renamed one (bot.slack.ids) shows here."""

    @app.action(ANY_ID)
    async def ignored_action(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        ids = [str(a.get("action_id"))[:100] for a in body.get("actions") or []]
        log.warning("no listener for Slack action %s: acked and ignored", ids)

    @app.view(ANY_ID)
    async def ignored_view(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        callback_id = str((body.get("view") or {}).get("callback_id"))[:100]
        log.warning("no listener for Slack view %r: acked and ignored", callback_id)
