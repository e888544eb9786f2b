"""Stage buttons (block_actions) move the loop; bad or stale clicks change nothing."""

from __future__ import annotations

from bot.devstack import DevStack
from bot.domain.model import Stage, TimelineKind
from bot.service.incidents import load
from tests.helpers.slack import ALICE, declare, timeline


async def stage_of(stack: DevStack) -> Stage:
    inc = await load(stack.runtime, 1)
    assert inc is not None
    return inc.stage


async def test_each_stage_button_moves_the_loop(stack: DevStack) -> None:
    channel = await declare(stack)
    for stage in (Stage.ORIENT, Stage.DECIDE, Stage.ACT, Stage.OBSERVE):
        response = await stack.click(f"stage_{stage.value}", "1", user=ALICE, channel=channel)
        assert response.status_code == 200
        await stack.settle()
        assert await stage_of(stack) is stage
    moves = [e.data["stage"] for e in await timeline(stack) if e.kind is TimelineKind.STAGE]
    assert moves == ["orient", "decide", "act", "observe"]
    assert any("Stage → *Act*" in m["text"] for m in stack.slack.messages(channel))


async def test_stale_and_bad_clicks_change_nothing(stack: DevStack) -> None:
    channel = await declare(stack)
    before = len(await timeline(stack))
    for value in ("999", "not-a-number", ""):
        response = await stack.click("stage_orient", value, user=ALICE, channel=channel)
        assert response.status_code == 200
    await stack.click("stage_observe", "1", user=ALICE, channel=channel)  # already there
    await stack.settle()
    assert await stage_of(stack) is Stage.OBSERVE
    assert len(await timeline(stack)) == before

    await stack.command("resolve done", user=ALICE, channel=channel)
    await stack.settle()
    await stack.click("stage_decide", "1", user=ALICE, channel=channel)
    await stack.settle()
    assert not [e for e in await timeline(stack) if e.kind is TimelineKind.STAGE]
