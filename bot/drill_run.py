"""`ooda drill run NAME --local`: a drill played against the built-in fakes by a scripted
responder, through the same Slack requests a person would send (the slash command, the
buttons, the confirmation modal), printed as a transcript with the scorecard the bot stored.

The scripted responder plays by the book unless told otherwise (`ScriptedResponder`): tests
change what it does and see the score change."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from bot.demo import DemoError
from bot.devstack import DevStack
from bot.domain.drills import Scenario
from bot.domain.drills.world import DrillClock, change_external_id, event_times
from bot.slack.ids import ActionId, ViewId
from bot.slack.out.text import render
from bot.storage import repo

LOCAL_SPEED = 60.0  # scenario minutes per real minute: a minute a second, fast and still in order
LOCAL_ENV = {
    "OODA_DRILL_SPEED": str(LOCAL_SPEED),
    "OODA_VERIFY_POLL_SECONDS": "0.2",
    "OODA_VERIFY_WINDOW_SECONDS": "1",
}
COMMAND_CHANNEL = "C0DRILLS1"
EXPECTED: Literal["expected"] = "expected"


@dataclass(frozen=True)
class ScriptedResponder:
    """What the responder does. `cause`: the scenario change id to mark Caused ("expected":
    the true one, or, with none to blame, mark every change Not related; "top": trust the
    bot's top suspect; None: mark nothing). `playbook`: the playbook to run ("expected": the
    first acceptable one; None: run nothing)."""

    acknowledge: bool = True
    cause: str | None = EXPECTED
    playbook: str | None = EXPECTED
    reason: str = "The evidence points there"


class DrillPlay:
    """One scenario played on a running DevStack by a scripted responder."""

    def __init__(self, stack: DevStack, scenario: Scenario, responder: ScriptedResponder) -> None:
        self.stack = stack
        self.scenario = scenario
        self.responder = responder
        self.alice = stack.slack.add_user("alice@example.com", "U0ALICE01", name="alice")
        self.number = 0
        self.channel = ""

    async def play(self) -> dict[str, Any]:
        """Start, respond, let the world settle, resolve; the scorecard the bot stored."""
        await self._start()
        if self.responder.acknowledge:
            await self._click(ActionId.INCIDENT_ACK, str(self.number))
        await self._mark_cause()
        await self._click(ActionId.STAGE_DECIDE, str(self.number))
        await self._run_playbook()
        await self._let_world_play()
        await self._command("resolve Drill over", channel=self.channel)
        return await self.scorecard()

    async def scorecard(self) -> dict[str, Any]:
        async with self.stack.runtime.db.session() as session:
            row = await repo.drill(session, self.number)
        _expect(row is not None and row.scorecard is not None, "the bot stored no scorecard")
        assert row is not None and row.scorecard is not None
        return dict(row.scorecard)

    async def _start(self) -> None:
        stack = self.stack
        before = {c["id"] for c in stack.slack.channels}
        await self._command(f"drill {self.scenario.name}", channel=COMMAND_CHANNEL)
        found = [
            c
            for c in stack.slack.channels
            if c["id"] not in before and c["name"].startswith("inc-")
        ]
        _expect(len(found) == 1, f"the drill's channel: {[c['name'] for c in found]}")
        self.channel = found[0]["id"]
        self.number = int(found[0]["name"].split("-")[1])

    async def _mark_cause(self) -> None:
        wanted = self.responder.cause
        if wanted is None:
            return
        ranked = await self._ranked()
        if wanted == "top":
            keys = ranked[:1]
            verdict = ActionId.VERDICT_CAUSED
        elif wanted == EXPECTED and self.scenario.expected.cause is None:
            keys, verdict = ranked, ActionId.VERDICT_NOT_RELATED  # ruled every change out
        else:
            cause = self.scenario.expected.cause if wanted == EXPECTED else wanted
            change = self.scenario.change(cause)
            _expect(change is not None, f"no change {cause!r} in {self.scenario.name}")
            assert change is not None
            keys = [f"{change.source}:{change_external_id(self.number, change.id)}"]
            verdict = ActionId.VERDICT_CAUSED
        for key in keys:
            await self._click(verdict, json.dumps({"i": self.number, "c": key}))

    async def _ranked(self) -> list[str]:
        async with self.stack.runtime.db.session() as session:
            ranked = await repo.ranked_changes(session, self.number)
        return [f"{r.change.source}:{r.change.external_id}" for r in ranked]

    async def _run_playbook(self) -> None:
        wanted = self.responder.playbook
        if wanted is None:
            return
        cards = [
            m
            for m in self.stack.slack.messages(self.channel)
            if m["text"].startswith(f"INC-{self.number} Decide")
        ]
        _expect(bool(cards), "no Decide card")
        card = cards[-1]
        buttons = [
            b["accessory"]
            for b in card["blocks"]
            if b.get("accessory", {}).get("action_id") == ActionId.DECIDE_RUN
        ]
        offered = {json.loads(b["value"])["p"]: b for b in buttons}
        choices = self.scenario.expected.playbooks if wanted == EXPECTED else [wanted]
        pick = next((p for p in choices if p in offered), None)
        _expect(pick is not None, f"the Decide card offers {sorted(offered)}, not {choices}")
        assert pick is not None
        await self._click(ActionId.DECIDE_RUN, offered[pick]["value"], message_ts=card["ts"])
        modal = self.stack.slack.views[-1]
        _expect(modal.get("callback_id") == ViewId.ACT_CONFIRM, "no confirmation modal")
        await self.stack.submit(modal, {"reason": self.responder.reason}, user=self.alice)
        await self.stack.settle()

    async def _let_world_play(self) -> None:
        """Wait until the scenario's last alert fired or cleared (its Observe jobs ran)."""
        async with self.stack.runtime.db.session() as session:
            row = await repo.drill(session, self.number)
        _expect(row is not None, f"INC-{self.number} is not a drill")
        assert row is not None
        times = event_times(self.scenario, DrillClock(row.started_at, row.speed))
        if times:
            horizon = (times[-1] - row.started_at).total_seconds() + 2
            await self.stack.settle(timeout=horizon + 30, horizon=horizon)

    async def _command(self, text: str, *, channel: str) -> None:
        response = await self.stack.command(text, user=self.alice, channel=channel)
        _expect(response.status_code == 200, f"/incident {text}: {response.status_code}")
        await self.stack.settle()

    async def _click(self, action_id: ActionId, value: str, *, message_ts: str = "") -> None:
        stack = self.stack
        await stack.click(
            action_id, value, user=self.alice, channel=self.channel, message_ts=message_ts
        )
        await stack.settle()


def local_config(scenario: Scenario, directory: Path | Traversable | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "services": [s.model_dump(exclude_defaults=True) for s in scenario.services]
    }
    if isinstance(directory, Path):
        config["drills_dir"] = str(directory.resolve())
    return config


async def run_local(
    scenario: Scenario,
    *,
    directory: Path | Traversable | None = None,
    responder: ScriptedResponder | None = None,
) -> int:
    """Play the scenario on the fakes, print what Slack showed and the stored scorecard."""
    with tempfile.TemporaryDirectory(prefix="ooda-drill-") as tmp:
        config = local_config(scenario, directory)
        async with DevStack(Path(tmp), config=config, env=LOCAL_ENV) as stack:
            play = DrillPlay(stack, scenario, responder or ScriptedResponder())
            card = await play.play()
            print(stack.slack.transcript())
    print("\n" + render("drill_scorecard", card=card))
    return 0


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise DemoError(what)
