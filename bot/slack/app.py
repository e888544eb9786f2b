"""Builds the Bolt app for a runtime: listeners registered per concern, no module-level app."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.service.runtime import Runtime
from bot.settings import secret
from bot.slack import actions, commands, events, modals

log = logging.getLogger(__name__)


def build_bolt_app(rt: Runtime) -> AsyncApp:
    app = AsyncApp(
        client=rt.slack.client,
        signing_secret=secret(rt.settings.slack_signing_secret) or "",
        # Ack first, work after: listeners keep running once Slack has its 200.
        process_before_response=False,
        # Over HTTP every request is verified (`serve` refuses to start without the secret);
        # Socket Mode has no /slack/events route at all.
        request_verification_enabled=rt.settings.slack_signing_secret is not None,
    )
    register_listeners(app, rt)
    app.error(_report_failure(rt))
    return app


def _report_failure(rt: Runtime) -> Any:
    """A listener that raised: log it and tell the person who clicked, so nothing fails silently."""

    async def on_error(error: Exception, body: dict[str, Any], logger: logging.Logger) -> None:
        logger.error("Slack listener failed: %s", error, exc_info=error)
        user = (body.get("user") or {}).get("id") or body.get("user_id")
        channel = (
            (body.get("channel") or {}).get("id")
            or (body.get("container") or {}).get("channel_id")
            or body.get("channel_id")
        )
        if not (user and channel):
            return
        try:
            await rt.slack.ephemeral(
                channel,
                user,
                f"That did not work ({type(error).__name__}); it is logged. "
                f"Try again, or use `{rt.settings.slash_command} help`.",
            )
        except Exception:  # the report itself must never raise
            logger.warning("could not tell the user about a failed listener", exc_info=True)

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
    app's view) is acked and ignored; Bolt would answer 404 and Slack shows the user an error."""

    @app.action(ANY_ID)
    async def ignored_action(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        ids = [a.get("action_id") for a in body.get("actions") or []]
        log.debug("ignored Slack action %s", ids)

    @app.view(ANY_ID)
    async def ignored_view(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        log.debug("ignored Slack view %s", (body.get("view") or {}).get("callback_id"))
