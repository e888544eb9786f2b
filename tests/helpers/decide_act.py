"""Helpers for the Decide/Act tests: a DevStack incident from a PagerDuty trigger with a suspect
deploy (bot.demo's scenario), the Decide card, its buttons, and a signed-webhook receiver."""

from __future__ import annotations

import copy
import json
import shutil
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.demo import CONFIG, DemoIncident, Scenario, Step
from bot.devstack import DevStack
from bot.domain.playbooks import default_playbooks_dir
from bot.fakes.server import LoopbackServer
from bot.storage.tables import ActionRunRow, Incident, StageSpanRow, TimelineRow
from tests.helpers.stack import FAST_VERIFY, MakeStack

ACTION_SECRET = "local-action-secret"  # DevStack's OODA_ACTION_WEBHOOK_SECRET
# Alerts that nothing clears: verify gives up after a second instead of the playbook's minutes.
SHORT_WINDOW = FAST_VERIFY | {"OODA_VERIFY_WINDOW_SECONDS": "1"}
ROLLBACK = "rollback-github-actions"


class WebhookReceiver:
    """A service that receives the bot's signed http.webhook actions (real HTTP on loopback)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.server = LoopbackServer(
            Starlette(routes=[Route("/{name}", self._hook, methods=["POST"])])
        )

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.requests.append(
                {"path": request.url.path, "headers": dict(request.headers), "body": body}
            )
        return Response(status_code=202)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> WebhookReceiver:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def config_with(*, webhooks: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """The demo catalog (checkout + payments), checkout with webhooks, plus extra keys."""
    config = copy.deepcopy(CONFIG)
    if webhooks:
        config["services"][0]["webhooks"] = webhooks
    return config | extra


def playbooks_copy(workdir: Path, **changes: dict[str, Any]) -> str:
    """Copy the shipped playbooks into workdir/playbooks, updating some: {file stem: fields}."""
    target = workdir / "playbooks"
    target.mkdir()
    source = Path(str(default_playbooks_dir()))
    for path in source.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    for stem, fields in changes.items():
        path = target / f"{stem.replace('_', '-')}.yaml"
        data = yaml.safe_load(path.read_text())
        data.update(fields)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return "playbooks"


@dataclass
class Opened:
    scenario: Scenario
    channel: str


async def open_incident(stack: DevStack) -> Opened:
    """The demo's first step: PagerDuty triggers INC-1 on checkout 12 min after a deploy, the
    bot opens its channel. Alice was paged; Bob joins to help."""
    demo = await DemoIncident(stack).play(through=Step.PAGE)
    stack.slack.join(demo.channel, demo.scenario.bob)
    return Opened(demo.scenario, demo.channel)


@asynccontextmanager
async def incident_stack(
    make_stack: MakeStack,
    *,
    config: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[DevStack, Opened]]:
    """A DevStack on the demo catalog (or `config`) with INC-1 opened by PagerDuty."""
    async with make_stack(config or config_with(), env=env) as stack:
        yield stack, await open_incident(stack)


async def rolled_back(stack: DevStack) -> tuple[DemoIncident, ActionRunRow]:
    """The demo's story through Act: its rollback clears the alerts, and verify says so."""
    demo = await DemoIncident(stack).play(through=Step.ACT)
    [run] = await action_runs(stack)
    assert run.playbook_id == ROLLBACK
    assert run.status == "succeeded" and run.verify_passed is True
    return demo, run


def opened_channel(stack: DevStack) -> Opened:
    """INC-1's channel when the test opened the incident itself (no demo scenario)."""
    [channel] = [c["id"] for c in stack.slack.channels if c["name"].startswith("inc-1-")]
    return Opened(scenario=None, channel=channel)  # type: ignore[arg-type]


def latest(stack: DevStack, channel: str, prefix: str) -> dict[str, Any]:
    return [m for m in stack.slack.messages(channel) if m["text"].startswith(prefix)][-1]


def texts(stack: DevStack, channel: str) -> str:
    return "\n".join(m["text"] for m in stack.slack.messages(channel))


async def decide_card(stack: DevStack, opened: Opened) -> dict[str, Any]:
    await stack.click("stage_decide", "1", user=opened.scenario.alice, channel=opened.channel)
    await stack.settle()
    return latest(stack, opened.channel, "INC-1 Decide")


def suggestions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The Decide card's suggestions: playbook id, button and section text, best first."""
    out = []
    for block in card["blocks"]:
        button = block.get("accessory") or {}
        if block["type"] == "section" and button.get("action_id") == "decide_run":
            out.append(
                {
                    "playbook": json.loads(button["value"])["p"],
                    "button": button,
                    "text": block["text"]["text"],
                }
            )
    return out


async def click_run(
    stack: DevStack, opened: Opened, card: dict[str, Any], playbook: str, *, user: str
) -> None:
    button = next(s["button"] for s in suggestions(card) if s["playbook"] == playbook)
    await stack.click(
        "decide_run", button["value"], user=user, channel=opened.channel, message_ts=card["ts"]
    )
    await stack.settle()


async def other_modal(stack: DevStack, opened: Opened, *, user: str) -> dict[str, Any]:
    await stack.click("decide_other", "1", user=user, channel=opened.channel)
    await stack.settle()
    modal = stack.slack.views[-1]
    assert modal["callback_id"] == "decide_other"
    return modal


async def confirm(stack: DevStack, values: dict[str, str], *, user: str) -> None:
    """Submit the modal on top (the confirmation) and let the work it queued run."""
    await stack.submit(stack.slack.views[-1], values, user=user)
    await stack.settle()


async def run_suggested(
    stack: DevStack,
    opened: Opened,
    card: dict[str, Any],
    playbook: str,
    *,
    user: str,
    values: dict[str, str] | None = None,
) -> None:
    """Click a Decide suggestion's Run button and confirm its modal with `values`."""
    await click_run(stack, opened, card, playbook, user=user)
    await confirm(stack, values or {}, user=user)


async def pick_other(stack: DevStack, opened: Opened, playbook: str, *, user: str) -> Any:
    """Something else…: pick a playbook in its modal; Slack's answer (a push, or errors)."""
    modal = await other_modal(stack, opened, user=user)
    return (await stack.submit(modal, {"playbook": playbook}, user=user)).json()


async def click_button(
    stack: DevStack, opened: Opened, message: dict[str, Any], button: dict[str, Any], *, user: str
) -> None:
    """Click a button of a message in the incident channel, then settle."""
    await stack.click(
        button["action_id"],
        button["value"],
        user=user,
        channel=opened.channel,
        message_ts=message["ts"],
    )
    await stack.settle()


async def set_roles(stack: DevStack, number: int, roles: dict[str, str]) -> None:
    async with stack.runtime.db.transaction() as session:
        incident = await session.get(Incident, number)
        assert incident is not None
        incident.roles = roles


async def action_runs(stack: DevStack) -> list[ActionRunRow]:
    async with stack.runtime.db.session() as session:
        return list((await session.scalars(select(ActionRunRow).order_by(ActionRunRow.id))).all())


async def incident_row(stack: DevStack, number: int = 1) -> Incident:
    async with stack.runtime.db.session() as session:
        incident = await session.get(Incident, number)
        assert incident is not None
        return incident


async def timeline(stack: DevStack, kind: str | None = None) -> list[TimelineRow]:
    async with stack.runtime.db.session() as session:
        query = select(TimelineRow).order_by(TimelineRow.at, TimelineRow.id)
        rows = list((await session.scalars(query)).all())
    return [r for r in rows if kind is None or r.kind == kind]


async def stage_spans(stack: DevStack) -> list[tuple[int, str]]:
    """(iteration, stage) in the order they started."""
    async with stack.runtime.db.session() as session:
        query = select(StageSpanRow).order_by(StageSpanRow.started_at, StageSpanRow.id)
        return [(s.iteration, s.stage) for s in (await session.scalars(query)).all()]
