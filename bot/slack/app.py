"""Builds the Bolt app for a runtime: listeners registered per concern, no module-level app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.service.runtime import Runtime
from bot.settings import secret
from bot.slack import actions, commands, events, modals


def build_bolt_app(rt: Runtime) -> AsyncApp:
    app = AsyncApp(
        client=rt.slack.client,
        signing_secret=secret(rt.settings.slack_signing_secret) or "",
        # Ack first, work after: listeners keep running once Slack has its 200.
        process_before_response=False,
        request_verification_enabled=rt.settings.slack_signing_secret is not None,
    )
    register_listeners(app, rt)
    return app


def register_listeners(app: AsyncApp, rt: Runtime) -> None:
    """Every listener, in one place: the manifest test replays this to see what we listen to."""
    commands.register(app, rt)
    actions.register(app, rt)
    modals.register(app, rt)
    events.register(app, rt)
    events.register_fallback(app)  # last: it matches every event type
