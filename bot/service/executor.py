"""Runs one resolved playbook step through its integration. Each returns a one-line detail."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from bot.domain.model import IncidentView
from bot.service.runtime import Runtime
from bot.settings import secret
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


async def _github_dispatch(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    github = _need(rt.github, "GITHUB_TOKEN")
    inputs = {k: str(v) for k, v in (w.get("inputs") or {}).items()}
    await github.dispatch_workflow(w["repo"], w["workflow"], ref=w["ref"], inputs=inputs)
    return f"dispatched {w['workflow']} on {w['repo']} at {w['ref']}" + (
        f" with {json.dumps(inputs, sort_keys=True)}" if inputs else ""
    )


async def _argocd_rollback(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    argocd = _need(rt.argocd, "ARGOCD_URL")
    try:
        await argocd.rollback(w["app"], int(w["history_id"]))
    except AutoSyncEnabled as exc:
        raise ActionFailed(str(exc), "disable auto-sync on the application, then retry") from exc
    return f"Argo CD rolled {w['app']} back to history id {w['history_id']}"


async def _argocd_sync(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    argocd = _need(rt.argocd, "ARGOCD_URL")
    await argocd.sync(w["app"], revision=w.get("revision"))
    return f"Argo CD sync of {w['app']} started"


async def _webhook(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    signing = secret(rt.settings.action_webhook_secret) or ""
    if not signing:
        raise ActionFailed(
            "outbound webhooks are signed and OODA_ACTION_WEBHOOK_SECRET is not set",
            "set OODA_ACTION_WEBHOOK_SECRET (shared with the receiving service)",
        )
    body = w.get("body") or {}
    if isinstance(body, str):
        body = json.loads(body)
    payload = {"incident": inc.ref, **body}
    response = await post_signed(w["url"], payload, secret=signing)
    return f"POST {w['url']} answered {response.status_code}"


async def _pd_note(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    pagerduty = _need(rt.pagerduty, "PAGERDUTY_API_TOKEN")
    if not inc.pd_incident_id:
        raise ActionFailed("this incident has no PagerDuty incident", "skip this step")
    await pagerduty.create_note(inc.pd_incident_id, str(w["content"]))
    return "note added to the PagerDuty incident"


async def _pd_escalate(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    pagerduty = _need(rt.pagerduty, "PAGERDUTY_API_TOKEN")
    if not inc.pd_incident_id:
        raise ActionFailed("this incident has no PagerDuty incident", "page the team by hand")
    await pagerduty.escalate(inc.pd_incident_id, int(w["level"]))
    return f"escalated to level {w['level']}"


async def _slack_message(rt: Runtime, inc: IncidentView, w: dict[str, Any]) -> str:
    channel = w.get("channel") or inc.channel_id
    if not channel:
        raise ActionFailed("no channel to post to", "set `channel` in the step")
    await rt.slack.post(str(channel), str(w["text"]))
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


async def run_step(rt: Runtime, inc: IncidentView, step: Step, *, dry_run: bool) -> str:
    if dry_run:
        return f"would run {describe(step)}"
    executor = EXECUTORS.get(step["action"])
    if executor is None:
        raise ActionFailed(f"unknown action {step['action']}", "fix the playbook")
    try:
        return await executor(rt, inc, step["with"])
    except UpstreamError as exc:
        raise ActionFailed(str(exc), "check the integration's credentials and try again") from exc
