"""`ooda drill`: every shipped scenario plays on the fakes and prints its scorecard; broken
scenario files are named with their lines; past drills are listed with their scores."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.domain.drills import default_drills_dir, scan
from bot.domain.drills.scoring import ACTION_POINTS, CAUSE_POINTS, MITIGATION_POINTS
from bot.drill_run import LOCAL_ENV, DrillPlay, ScriptedResponder, local_config
from tests.helpers.stack import MakeStack

SHIPPED = sorted(s.name for s in scan(default_drills_dir())[0])


@pytest.fixture(autouse=True)
def clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray ooda.yaml or .env from the checkout


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_scenario_plays_locally(name: str) -> None:
    result = invoke("drill", "run", name, "--local")
    assert result.exit_code == 0, result.output
    card = result.stdout.rsplit(":test_tube: *Drill scorecard*", 1)
    assert len(card) == 2, result.stdout[-2000:]
    assert f"(`{name}`)" in card[1]
    total = re.search(r"\*(\d+)/(\d+)\*", card[1])
    assert total is not None and 0 <= int(total[1]) <= int(total[2])
    for stage in ("Observe", "Orient", "Decide", "Act"):
        assert f" {stage} " in card[1]
    assert "*The bot's grade:*" in card[1]
    # The scripted responder plays by the book: it finds the cause (or blames nothing), runs
    # an acceptable action first, and the alerts clear after it.
    lines = {line.split("*")[1]: line for line in card[1].splitlines() if line.startswith("*")}
    assert lines["Cause:"].endswith(f"(+{CAUSE_POINTS})"), lines["Cause:"]
    assert lines["Action:"].endswith(f"— acceptable (+{ACTION_POINTS})"), lines["Action:"]
    assert lines["Mitigation:"].endswith(f"(+{MITIGATION_POINTS})"), lines["Mitigation:"]


def test_run_needs_local_and_a_known_name() -> None:
    assert invoke("drill", "run", "bad-deploy").exit_code == 2
    unknown = invoke("drill", "run", "no-such", "--local")
    assert unknown.exit_code == 2 and "no drill scenario 'no-such'" in unknown.output


def test_list_and_validate(tmp_path: Path) -> None:
    listed = invoke("drill", "list")
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == SHIPPED
    assert invoke("drill", "validate").exit_code == 0
    broken = tmp_path / "mine"
    broken.mkdir()
    text = (Path(str(default_drills_dir())) / "bad-deploy.yaml").read_text(encoding="utf-8")
    (broken / "bad.yaml").write_text(text.replace("minutes_before: 12", "minutes_before: soon"))
    result = invoke("drill", "validate", str(broken))
    assert result.exit_code == 1
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "minutes_before: 12" in t)
    assert "bad.yaml: changes[0].minutes_before: " in result.output
    assert f"(line {line})" in result.output


@pytest.mark.db
async def test_scores_lists_past_drills(make_stack: MakeStack, database_url: str) -> None:
    scenario = next(s for s in scan(default_drills_dir())[0] if s.name == "config-change")
    async with make_stack(local_config(scenario, None), env=LOCAL_ENV) as stack:
        card = await DrillPlay(stack, scenario, ScriptedResponder()).play()
    # In a thread: the command runs its own event loop.
    result = await asyncio.to_thread(invoke, "drill", "scores", env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    header, row = result.stdout.strip().splitlines()
    assert header.split()[:4] == ["INC", "started", "(UTC)", "scenario"]
    assert row.startswith("INC-1 ") and "config-change" in row
    assert f"{card['total']}/{card['out_of']}" in row
