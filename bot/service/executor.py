"""Runs one resolved playbook step through its integration. Each returns a one-line detail.

Every failure becomes ActionFailed: what failed (the message) and what to try (the hint).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.domain.model import IncidentView
from bot.service import cards
from bot.service.runtime import Runtime
from bot.settings import secret
from bot.slack.out.text import escape
from integrations.argocd import AutoSyncEnabled
from integrations.http import UpstreamError
from integrations.webhook import post_signed


class ActionFailed(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


Step = dict[str, Any]
Executor = Callable[[Runtime, IncidentView, dict[str, Any]], Awaitable[str]]


def _need(client: Any, variable: str) -> Any:
    if client is None:
        raise ActionFailed(f"{variable} is not configured", f"set {variable} and try again")
    return client


def _int(value: Any, name: str) -> int:
    """Templates render to strings ("42"); the APIs want numbers."""
    try:
        return int(str(value).strip())
    except ValueError:
        raise ActionFailed(
            f"{name} must be a whole number, got {value!r}", f"fix {name} in the playbook"
        ) from None


async def _github_dispatch(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    github = _need(rt.github, "GITHUB_TOKEN")
    inputs = {k: str(v) for k, v in (w.get("inputs") or {}).items()}
    await github.dispatch_workflow(w["repo"], w["workflow"], ref=str(w["ref"]), inputs=inputs)
    return f"dispatched {w['workflow']} on {w['repo']} at {w['ref']}" + (
        f" with {json.dumps(inputs, sort_keys=True)}" if inputs else ""
    )


async def _argocd_rollback(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    argocd = _need(rt.argocd, "ARGOCD_URL")
    history_id = _int(w["history_id"], "history_id")
    try:
        await argocd.rollback(w["app"], history_id)
    except AutoSyncEnabled as exc:
        raise ActionFailed(
            str(exc),
            f"disable auto-sync (argocd app set {w['app']} --sync-policy none), then run it again",
        ) from exc
    except ValueError as exc:  # the history id is not in the application's history
        raise ActionFailed(
            str(exc), f"pick an id from `argocd app history {w['app']}` and roll back by hand"
        ) from exc
    return f"Argo CD rolled {w['app']} back to history id {history_id}"


async def _argocd_sync(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    argocd = _need(rt.argocd, "ARGOCD_URL")
    revision = w.get("revision") or None
    await argocd.sync(w["app"], revision=revision)
    return f"Argo CD sync of {w['app']} started" + (f" at {revision}" if revision else "")


async def _webhook(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    signing = secret(rt.settings.action_webhook_secret) or ""
    if not signing:
        raise ActionFailed(
            "outbound webhooks are signed and OODA_ACTION_WEBHOOK_SECRET is not set",
            "set OODA_ACTION_WEBHOOK_SECRET (shared with the receiving service)",
        )
    if not w.get("url"):
        raise ActionFailed("the webhook has no URL", "add the endpoint to the service's webhooks")
    body = w.get("body") or {}
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            raise ActionFailed("the webhook body is not JSON", "fix body in the playbook") from None
    if not isinstance(body, dict):
        raise ActionFailed("the webhook body must be a JSON object", "fix body in the playbook")
    payload = {"incident": inc.ref, **body}
    response = await post_signed(
        str(w["url"]), payload, secret=signing, backoff=rt.settings.http_backoff_seconds
    )
    return f"POST {w['url']} answered {response.status_code}"


def _pagerduty(rt: Runtime, inc: IncidentView, hint: str) -> tuple[Any, str]:
    pagerduty = _need(rt.pagerduty, "PAGERDUTY_API_TOKEN")
    if not rt.settings.pagerduty_from_email:
        raise ActionFailed(
            "PagerDuty needs a From user for incident writes and PAGERDUTY_FROM_EMAIL is not set",
            "set PAGERDUTY_FROM_EMAIL to the email of a PagerDuty user the bot acts as",
        )
    if not inc.pd_incident_id:
        raise ActionFailed(f"{inc.ref} has no PagerDuty incident", hint)
    return pagerduty, inc.pd_incident_id


async def _pd_note(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    pagerduty, pd_id = _pagerduty(rt, inc, "skip this step")
    await pagerduty.create_note(pd_id, str(w["content"]))
    return "note added to the PagerDuty incident"


async def _pd_escalate(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    pagerduty, pd_id = _pagerduty(rt, inc, "page the team by hand")
    level = _int(w["level"], "level")
    if level < 1:
        raise ActionFailed("escalation levels start at 1", "fix level in the playbook")
    await pagerduty.escalate(pd_id, level)
    return f"escalated to level {level}"


async def _slack_message(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    channel = w.get("channel")
    if not channel or channel == inc.channel_id:
        # The incident's own channel: in order with everything else said there.
        await cards.say_now(rt, inc.number, escape(w["text"]))
        return "message queued in the incident channel"
    try:
        # The text carries incident titles typed by people: escape it like any user text.
        await rt.slack.post(str(channel), escape(w["text"]))
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else "unknown error"
        raise ActionFailed(
            f"Slack refused the message to {channel}: {error}",
            "invite the bot to that channel, or post it by hand",
        ) from exc
    return "message posted"


EXECUTORS: dict[str, Executor] = {
    "github.workflow_dispatch": _github_dispatch,
    "argocd.rollback": _argocd_rollback,
    "argocd.sync": _argocd_sync,
    "http.webhook": _webhook,
    "pagerduty.note": _pd_note,
    "pagerduty.escalate": _pd_escalate,
    "slack.message": _slack_message,
}


def describe(step: Step) -> str:
    args = ", ".join(f"{k}={v}" for k, v in step["with"].items() if k != "body")
    return f"{step['action']}({args})"


def upstream_hint(exc: UpstreamError) -> str:
    """What to try, from how the vendor answered."""
    vendor = exc.vendor
    if exc.status in (401, 403):
        return f"check the {vendor} token and its permissions, then run it again"
    if exc.status == 404:
        return f"check the names in the playbook and the catalog ({vendor} does not know them)"
    if exc.status in (400, 409, 422):
        return f"{vendor} rejected the request: check the parameters, or do it by hand"
    if exc.status is not None and exc.status >= 500:
        return f"{vendor} is failing: check its status page, retry, or do it by hand"
    return f"{vendor} could not be reached: check the URL and the network, then run it again"


async def run_step(rt: Runtime, inc: IncidentView, step: Step, *, dry_run: bool) -> str:
    """Run one step (or say what would run); raises ActionFailed with a hint."""
    if dry_run:
        return f"would run {describe(step)}"
    executor = EXECUTORS.get(step["action"])
    if executor is None:
        raise ActionFailed(f"unknown action {step['action']}", "fix the playbook")
    try:
        return await executor(rt, inc, step["with"])
    except UpstreamError as exc:
        raise ActionFailed(str(exc), upstream_hint(exc)) from exc
    except KeyError as exc:
        raise ActionFailed(
            f"{step['action']} is missing {exc.args[0]}", "fix the step in the playbook"
        ) from exc
