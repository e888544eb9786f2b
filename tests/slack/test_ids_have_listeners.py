"""Every button and modal the bot emits has a listener, and every listener a button or modal.

Every builder of bot.slack.out.views and bot.slack.out.forms is rendered with sample data; each
action_id and callback_id found in what it produces is matched, the way Bolt dispatches, against
the listeners of the app the factory builds. The first listener that matches must not be the
interaction fallback (which acks anything and logs a warning): a renamed id fails here, and
through the real ASGI app it shows as that warning."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.listener.async_listener import AsyncListener
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.catalog import OodaConfig
from bot.devstack import DevStack
from bot.domain.model import (
    Change,
    IncidentView,
    RankedChange,
    Severity,
    Stage,
    StageSpan,
    Status,
)
from bot.domain.playbooks import Playbook, Suggestion
from bot.domain.playbooks.engine import ResolvedStep
from bot.service.runtime import build_runtime
from bot.settings import Settings
from bot.slack.ids import ActionId, BlockId, ViewId
from bot.slack.listen import actions, modals
from bot.slack.listen.app import build_bolt_app
from bot.slack.out import forms, views
from tests.helpers.slack import ALICE, general_id

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def incident(**fields: Any) -> IncidentView:
    base: dict[str, Any] = {
        "number": 7,
        "title": "Checkout down",
        "severity": Severity.SEV2,
        "status": Status.TRIGGERED,
        "stage": Stage.OBSERVE,
        "opened_at": NOW - timedelta(minutes=20),
        "service": "checkout",
        "first_alert_at": NOW - timedelta(minutes=25),
        "channel_id": "C0INC0007",
        "roles": {"commander": ALICE},
    }
    return IncidentView(**(base | fields))


CHANGE = RankedChange(
    Change(source="github", external_id="42", summary="deploy v2", created_at=NOW),
    score=0.8,
    reason="deployed 5 min before the first alert",
    likely=True,
)


def suggestion(risk: str = "high") -> Suggestion:
    playbook = Playbook.model_validate(
        {
            "id": "restart",
            "title": "Restart",
            "description": "Restart the service.",
            "kind": "remediation",
            "risk": risk,
            "steps": [{"action": "slack.message", "with": {"text": "restarting"}}],
        }
    )
    return Suggestion(
        playbook=playbook,
        params={},
        steps=[ResolvedStep("slack.message", {"text": "restarting"})],
        label="Restart checkout",
        evidence=["5xx above SLO"],
        score=0.5,
        risk=risk,
        roles=[],
        approvals=2,
    )


OBSERVATION = {
    "alerts": [{"summary": "5xx", "status": "triggered", "created_at": "11:40"}],
    "linked": [
        {"id": "PD1", "number": 1, "title": "first", "url": "https://pd.example.com/1"},
        {"id": "PD2", "number": 2, "title": "attached", "url": "https://pd.example.com/2"},
    ],
    "missing": ["argocd"],
}
REMINDER = {"incident": 7, "kind": "stall", "stage": "observe", "span": 1, "seq": 1}
SPANS = [StageSpan(Stage.OBSERVE, 1, NOW - timedelta(minutes=20))]

# Each builder, called so that every button it can emit is there (every stage for reminders).
SAMPLES: dict[Callable[..., Any], list[Callable[[], Any]]] = {
    views.topic: [lambda: views.topic(incident())],
    views.opened: [lambda: views.opened(incident(), ALICE)],
    views.summary: [
        lambda: views.summary(incident(), SPANS, top=CHANGE, last_action="restart", now=NOW)
    ],
    views.observe: [
        lambda s=s: views.observe(incident(status=s), OBSERVATION, now=NOW, declared_by=ALICE)
        for s in Status
    ],
    views.change_key: [lambda: views.change_key(CHANGE)],
    views.orient: [
        lambda: views.orient(
            incident(),
            [CHANGE],
            missing=["argocd"],
            in_catalog=True,
            window_hours=24,
            similar=["INC-3"],
        )
    ],
    views.decide: [lambda: views.decide(incident(), [suggestion()], command="/incident")],
    views.action_result: [
        lambda: views.action_result(
            "Restart", ok=True, dry_run=False, duration="1 s", detail="done", hint=""
        )
    ],
    views.action_interrupted: [lambda: views.action_interrupted("Restart")],
    views.verify_result: [lambda: views.verify_result("cleared", cleared=True, number=7)],
    views.needs_second_approval: [lambda: views.needs_second_approval("Restart", "7:p:1", ALICE)],
    views.action_cancelled: [lambda: views.action_cancelled("Restart", ALICE)],
    views.reminder: [
        *(
            lambda stage=stage: views.reminder(
                incident(stage=stage), kind="stall", value=REMINDER, waited=timedelta(minutes=30)
            )
            for stage in Stage
        ),
        lambda: views.reminder(incident(), kind="status", value=REMINDER, waited=None),
    ],
    views.reminder_snoozed: [lambda: views.reminder_snoozed("Reminder", minutes=15, by=ALICE)],
    views.second_approval_given: [lambda: views.second_approval_given("Restart", ALICE, "U0BOB")],
    forms.confirm_action: [
        lambda: forms.confirm_action(incident(), suggestion(), dry_run=False, key="7:p:1")
    ],
    forms.declare_modal: [lambda: forms.declare_modal(["checkout"], channel_id="C0GENERAL")],
    forms.resolve_modal: [lambda: forms.resolve_modal(incident())],
    forms.other_decision_modal: [
        lambda: forms.other_decision_modal(incident(), [("Restart", "restart")])
    ],
    forms.postmortem_edit_modal: [lambda: forms.postmortem_edit_modal(incident())],
    forms.timeline_pick_modal: [lambda: forms.timeline_pick_modal([incident()], "{}")],
}


def builders() -> set[Callable[..., Any]]:
    return {
        f
        for module in (views, forms)
        for name, f in inspect.getmembers(module, inspect.isfunction)
        if f.__module__ == module.__name__ and not name.startswith("_")
    }


class Emitted:
    """The ids in rendered blocks and views, as Slack receives them (after JSON)."""

    def __init__(self) -> None:
        self.actions: set[str] = set()
        self.views: set[str] = set()
        self.inputs: set[str] = set()

    def walk(self, node: Any, *, in_input: bool = False) -> None:
        if isinstance(node, dict):
            if node.get("type") == "input":
                self.inputs.add(node["block_id"])
                # An input's element sends nothing until the modal is submitted.
                in_input = not node.get("dispatch_action")
            if "action_id" in node and not in_input:
                self.actions.add(node["action_id"])
            if node.get("type") == "modal":
                self.views.add(node["callback_id"])
            for value in node.values():
                self.walk(value, in_input=in_input)
        elif isinstance(node, list):
            for value in node:
                self.walk(value, in_input=in_input)


@pytest.fixture(scope="module")
def emitted() -> Emitted:
    found = Emitted()
    for calls in SAMPLES.values():
        for call in calls:
            found.walk(json.loads(json.dumps(call())))
    return found


@pytest.fixture
def app(tmp_path: Path) -> AsyncApp:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=f"sqlite:///{tmp_path / 'ids.db'}",
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="s",
        OODA_CONFIG=str(tmp_path / "none.yaml"),
    )
    return build_bolt_app(build_runtime(settings, config=OodaConfig()))


def click(action_id: str) -> dict[str, Any]:
    action = {"action_id": action_id, "block_id": "b", "type": "button", "value": "7"}
    return {"type": "block_actions", "user": {"id": ALICE}, "actions": [action]}


def submission(callback_id: str) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "user": {"id": ALICE},
        "view": {"type": "modal", "callback_id": callback_id},
    }


async def dispatched_to(app: AsyncApp, body: dict[str, Any]) -> AsyncListener | None:
    """The listener Bolt runs for this body: the first registered one that matches."""
    request = AsyncBoltRequest(body=body, mode="socket_mode")
    for listener in app._async_listeners:
        if await listener.async_matches(req=request, resp=BoltResponse(status=200)):
            return listener
    return None


def test_every_builder_is_rendered() -> None:
    assert builders() == set(SAMPLES), "add a sample call for each new builder to SAMPLES"


async def test_every_emitted_id_has_its_listener(app: AsyncApp, emitted: Emitted) -> None:
    fallback = await dispatched_to(app, click("no-listener-for-this"))
    view_fallback = await dispatched_to(app, submission("no-listener-for-this"))
    assert fallback is not None and view_fallback is not None  # the fallback acks the rest
    assert emitted.actions and emitted.views  # the walk found something
    unheard = [a for a in sorted(emitted.actions) if await dispatched_to(app, click(a)) is fallback]
    assert unheard == [], "buttons without a listener"
    unheard = [
        v for v in sorted(emitted.views) if await dispatched_to(app, submission(v)) is view_fallback
    ]
    assert unheard == [], "modals without a listener"


def test_every_listener_has_its_button(emitted: Emitted) -> None:
    """Both ways: no constant, and no listener table entry, that nothing emits."""
    assert emitted.actions == set(ActionId) == set(actions.STORED) | set(actions.OPENERS)
    assert emitted.views == set(ViewId) == set(modals.STORED)


def test_every_modal_input_is_named_in_ids(emitted: Emitted) -> None:
    assert emitted.inputs <= set(BlockId)


async def test_an_unheard_click_is_acked_and_logged_as_a_warning(
    stack: DevStack, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the real app: a button or modal nobody listens for (a renamed id) gets its 200
    and a warning naming it; a known one does not."""
    caplog.set_level(logging.WARNING, logger="bot.slack.listen.app")
    channel = general_id(stack)
    known = await stack.click(ActionId.STAGE_ORIENT, "7", user=ALICE, channel=channel)
    await stack.settle()
    assert known.status_code == 200
    assert not [r for r in caplog.records if r.name == "bot.slack.listen.app"]

    renamed = await stack.click("stage_orient_renamed", "7", user=ALICE, channel=channel)
    view = forms.resolve_modal(incident()) | {"callback_id": "resolve_renamed"}
    submitted = await stack.submit(view, {}, user=ALICE)
    await stack.settle()
    assert renamed.status_code == 200 and submitted.status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("stage_orient_renamed" in w for w in warnings), warnings
    assert any("resolve_renamed" in w for w in warnings), warnings
