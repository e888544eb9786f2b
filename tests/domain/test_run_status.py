"""The action-run state machine, as a table: every (from, to) pair is either allowed or refused."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.domain.action_runs import (
    FINISHED,
    TRANSITIONS,
    IllegalRunTransition,
    RunStatus,
    check_transition,
)
from bot.storage.tables import ActionRunRow

# Rows: from. Columns: to, in this order. x: allowed, .: refused. An approval that still needs
# a second approver keeps the run awaiting approval (the one move to itself).
COLUMNS = ["awaiting_approval", "queued", "running", "succeeded", "failed", "dry_run", "cancelled"]
TABLE = """
awaiting_approval  x x . . . . x
queued             . . x . . . x
running            . . . x x x .
succeeded          . . . . . . .
failed             . . . . . . .
dry_run            . . . . . . .
cancelled          . . . . . . .
"""


def table() -> list[tuple[str, str, bool]]:
    rows = []
    for line in TABLE.strip().splitlines():
        source, *cells = line.split()
        assert len(cells) == len(COLUMNS), line
        rows += [(source, target, cell == "x") for target, cell in zip(COLUMNS, cells, strict=True)]
    return rows


def test_the_table_covers_every_pair_of_statuses() -> None:
    pairs = {(source, target) for source, target, _ in table()}
    assert pairs == {(a.value, b.value) for a in RunStatus for b in RunStatus}
    assert len(pairs) == len(RunStatus) ** 2 == 49


@pytest.mark.parametrize(("source", "target", "allowed"), table())
def test_transition(source: str, target: str, allowed: bool) -> None:
    assert RunStatus(source).can_move_to(RunStatus(target)) is allowed
    assert (RunStatus(target) in TRANSITIONS[RunStatus(source)]) is allowed
    if allowed:
        stored = check_transition(source, RunStatus(target))
        assert stored == target and type(stored) is str  # the column holds the plain value
    else:
        with pytest.raises(IllegalRunTransition) as refused:
            check_transition(source, RunStatus(target))
        message = str(refused.value)
        assert f"from {source!r} to {target!r}" in message


def test_refusal_says_what_is_allowed() -> None:
    with pytest.raises(IllegalRunTransition, match="it may move to cancelled, running"):
        check_transition("queued", RunStatus.SUCCEEDED)
    with pytest.raises(IllegalRunTransition, match=r"nothing \(finished\)"):
        check_transition("succeeded", RunStatus.RUNNING)


def test_an_unknown_stored_status_is_refused_clearly() -> None:
    with pytest.raises(IllegalRunTransition, match="unknown status 'pending'"):
        check_transition("pending", RunStatus.RUNNING)


def test_finished_statuses_are_those_without_a_way_out() -> None:
    assert {"succeeded", "failed", "dry_run", "cancelled"} == FINISHED
    assert all(status.finished == (status in FINISHED) for status in RunStatus)


def test_statuses_are_the_stored_strings() -> None:
    # The database column holds these values: renaming one needs a migration.
    assert [s.value for s in RunStatus] == [
        "awaiting_approval",
        "queued",
        "running",
        "succeeded",
        "failed",
        "dry_run",
        "cancelled",
    ]
    assert RunStatus.QUEUED == "queued" and "queued" in {RunStatus.QUEUED}


# ------------------------------------------------- every status the code stores or compares

BOT = Path(__file__).resolve().parents[2] / "bot"
# Modules that set or compare an action run's status (the listeners compare act.approve's result).
ACTION_RUN_MODULES = [
    *sorted((BOT / "service" / "act").glob("*.py")),
    BOT / "storage" / "repo" / "actions.py",
    BOT / "slack" / "listen" / "actions.py",
    BOT / "slack" / "listen" / "modals.py",
]
STATUS_NAMES = {"status", "status_was"}


def _is_status(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in STATUS_NAMES
    if not isinstance(node, ast.Attribute) or node.attr not in STATUS_NAMES:
        return False
    return not (isinstance(node.value, ast.Name) and node.value.id == "Job")  # a job's status


def _strings(node: ast.AST | None) -> list[str]:
    """String constants a status could take from this expression (ternaries, tuples, sets)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for element in node.elts for s in _strings(element)]
    return []


def status_literals(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_status(side) for side in sides):
                found += [s for side in sides for s in _strings(side)]
        elif isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in _targets(target)]
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            for target, value in zip(targets, values, strict=False):
                if _is_status(target):
                    found += _strings(value)
        elif isinstance(node, ast.keyword) and node.arg in STATUS_NAMES:
            found += _strings(node.value)
    return found


def _targets(target: ast.expr) -> list[ast.expr]:
    return list(target.elts) if isinstance(target, ast.Tuple) else [target]


def test_the_scan_finds_literals() -> None:
    source = (
        'row.status, row.at = "running", now\n'
        'if status == "queued" or Job.status == "pending": pass\n'
        'f(status="x" if ok else "y")'
    )
    assert status_literals(source) == ["running", "queued", "x", "y"]


def test_every_status_the_code_stores_or_compares_is_a_run_status() -> None:
    members = {s.value for s in RunStatus}
    for path in ACTION_RUN_MODULES:
        unknown = set(status_literals(path.read_text())) - members
        assert not unknown, f"{path.relative_to(BOT.parent)}: {sorted(unknown)} not in RunStatus"
    assert ActionRunRow.__table__.c.status.default.arg in members
