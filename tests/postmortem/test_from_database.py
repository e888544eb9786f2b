"""Postmortem numbers read back from the database: incidents stored through the repository layer
with known timestamps, then `postmortems.build` + render (Markdown and HTML).

INC-1 (2026-11-24 UTC): opened 10:00, acknowledged 10:03, Orient 10:05, Decide 10:10, decision
10:12, Act 10:12, rollback finished 10:20 with its verify passed, Observe again 10:20 (loop 2),
Orient 10:25, Decide 10:30, decision 10:31, Act 10:33, a scale-up that failed its verify 10:36,
resolved 10:41. No mitigated_at on the row: mitigation is the rollback's finish.

  loop 1: Observe 10:00-10:05 5m, Orient 10:05-10:10 5m, Decide 10:10-10:12 2m,
          Act 10:12-10:20 8m → 20m
  loop 2: Observe 10:20-10:25 5m, Orient 10:25-10:30 5m, Decide 10:30-10:33 3m,
          Act 10:33-10:41 8m → 21m
  totals: Observe 10m, Orient 10m, Decide 5m, Act 16m → 41m

INC-2: opened 11:00, acknowledged 11:00:45, mitigated_at 11:18 on the row (it wins over the
action finished 11:30), never left Observe, resolved 12:05.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.domain.model import Stage, TimelineKind
from bot.service import postmortems
from bot.service.runtime import Runtime, build_runtime
from bot.settings import Settings
from bot.storage import repo
from bot.storage.db import upgrade
from bot.storage.tables import ActionRunRow, DecisionRow


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, second, tzinfo=UTC)


@pytest.fixture
async def rt(tmp_path: Path, database_url: str) -> AsyncIterator[Runtime]:
    upgrade(database_url)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, DATABASE_URL=database_url, OODA_CONFIG=str(tmp_path / "absent.yaml")
    )
    runtime = build_runtime(settings)
    yield runtime
    await runtime.aclose()


def action_row(number: int, key: str, title: str, **fields: object) -> ActionRunRow:
    values: dict[str, object] = {"status": "succeeded"} | fields
    return ActionRunRow(
        incident_id=number,
        key=key,
        playbook_id=key,
        title=title,
        action="github.workflow_dispatch",
        requested_by="U1",
        **values,
    )


async def store_two_loops(rt: Runtime) -> int:
    async with rt.db.transaction() as session:
        row = await repo.create_incident(
            session, title="Checkout returns 500s", severity=2, service="checkout",
            opened_at=at(10, 0), roles={"commander": "U1"},
        )  # fmt: skip
        number = row.id
        await repo.add_entry(session, number, TimelineKind.OPENED, "Opened", at=at(10, 0))
        row.acknowledged_at = at(10, 3)
        row.status = "acknowledged"
        await repo.add_entry(
            session, number, TimelineKind.STATUS, "Acknowledged", actor="U1", at=at(10, 3)
        )
        for stage, moment in ((Stage.ORIENT, at(10, 5)), (Stage.DECIDE, at(10, 10))):
            assert await repo.move_stage(session, row, stage, at=moment)
        session.add(DecisionRow(incident_id=number, at=at(10, 12), by="U1",
                                text="Roll back checkout", reason="bad deploy"))  # fmt: skip
        assert await repo.move_stage(session, row, Stage.ACT, at=at(10, 12))
        session.add(action_row(
            number, "rollback", "Roll back checkout", created_at=at(10, 12),
            started_at=at(10, 12, 30), finished_at=at(10, 20), verify_passed=True,
        ))  # fmt: skip
        for stage, moment in (
            (Stage.OBSERVE, at(10, 20)),
            (Stage.ORIENT, at(10, 25)),
            (Stage.DECIDE, at(10, 30)),
        ):
            assert await repo.move_stage(session, row, stage, at=moment)
        session.add(DecisionRow(incident_id=number, at=at(10, 31), by="U1",
                                text="Scale up cart", reason="queue depth"))  # fmt: skip
        assert await repo.move_stage(session, row, Stage.ACT, at=at(10, 33))
        session.add(action_row(
            number, "scale", "Scale cart", created_at=at(10, 33), started_at=at(10, 34),
            finished_at=at(10, 36), verify_passed=False, status="failed",
        ))  # fmt: skip
        await repo.close_spans(session, number, at(10, 41))
        row.resolved_at = at(10, 41)
        row.status = "resolved"
        await repo.add_entry(session, number, TimelineKind.RESOLVED, "Resolved", at=at(10, 41))
    return number


async def store_mitigated_on_row(rt: Runtime) -> int:
    async with rt.db.transaction() as session:
        row = await repo.create_incident(
            session, title="Cart slow", severity=3, service="cart", opened_at=at(11, 0)
        )
        row.acknowledged_at = at(11, 0, 45)
        row.mitigated_at = at(11, 18)
        session.add(action_row(
            row.id, "restart", "Restart cart", created_at=at(11, 20), started_at=at(11, 21),
            finished_at=at(11, 30), verify_passed=True,
        ))  # fmt: skip
        await repo.close_spans(session, row.id, at(12, 5))
        row.resolved_at = at(12, 5)
        row.status = "resolved"
        return row.id


def md_section(text: str, heading: str) -> list[list[str]]:
    """Rows of the Markdown table under ``## heading`` (header and separator left out)."""
    lines = text.splitlines()
    start = lines.index(f"## {heading}")
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:]


class _Cells(HTMLParser):
    """Text of every <td>/<th> and of key-number label/value divs, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.numbers: list[str] = []
        self._cell: list[str] | None = None
        self._div: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div" and dict(attrs).get("class") in ("label", "value"):
            self._div = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "div" and self._div is not None:
            self.numbers.append(self._div.strip())
            self._div = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._div is not None:
            self._div += data


def html_tables(page: str) -> _Cells:
    parser = _Cells()
    parser.feed(page)
    return parser


KEY_NUMBERS_INC1 = [
    ["Time to acknowledge", "3m"],
    ["Time to first Orient", "5m"],
    ["Time to first decision", "12m"],
    ["Time to mitigation", "20m"],
    ["Time to resolve", "41m"],
]
LOOPS_INC1 = [
    ["1", "5m", "5m", "2m", "8m", "20m"],
    ["2", "5m", "5m", "3m", "8m", "21m"],
    ["**Total**", "10m", "10m", "5m", "16m", "41m"],
]


async def test_key_numbers_and_loop_table_from_stored_timestamps(rt: Runtime) -> None:
    number = await store_two_loops(rt)
    doc = await postmortems.build(rt, number)
    assert doc is not None
    k = doc.key_numbers
    assert k.time_to_acknowledge == timedelta(minutes=3)
    assert k.time_to_first_orient == timedelta(minutes=5)
    assert k.time_to_first_decision == timedelta(minutes=12)
    assert k.time_to_mitigation == timedelta(minutes=20)
    assert k.time_to_resolve == timedelta(minutes=41)
    assert [(it.iteration, it.durations) for it in doc.iterations] == [
        (1, {Stage.OBSERVE: timedelta(minutes=5), Stage.ORIENT: timedelta(minutes=5),
             Stage.DECIDE: timedelta(minutes=2), Stage.ACT: timedelta(minutes=8)}),
        (2, {Stage.OBSERVE: timedelta(minutes=5), Stage.ORIENT: timedelta(minutes=5),
             Stage.DECIDE: timedelta(minutes=3), Stage.ACT: timedelta(minutes=8)}),
    ]  # fmt: skip
    assert doc.loop_total == timedelta(minutes=41)
    assert all(moment.tzinfo is not None for moment in (doc.incident.opened_at, doc.end_at))

    markdown = await postmortems.render(rt, number, "markdown")
    assert markdown is not None
    assert md_section(markdown, "Key numbers") == KEY_NUMBERS_INC1
    assert md_section(markdown, "OODA loop") == LOOPS_INC1

    page = await postmortems.render(rt, number, "html")
    assert page is not None
    cells = html_tables(page)
    pairs = list(zip(cells.numbers[::2], cells.numbers[1::2], strict=True))
    assert [list(pair) for pair in pairs] == KEY_NUMBERS_INC1
    loop_rows = [row for row in cells.rows if row and row[0] in ("1", "2", "Total")]
    assert loop_rows[:3] == [
        ["1", "5m", "5m", "2m", "8m", "20m"],
        ["2", "5m", "5m", "3m", "8m", "21m"],
        ["Total", "10m", "10m", "5m", "16m", "41m"],
    ]


async def test_mitigated_at_on_the_row_wins_and_missing_stages_show_a_dash(rt: Runtime) -> None:
    number = await store_mitigated_on_row(rt)
    markdown = await postmortems.render(rt, number, "markdown")
    assert markdown is not None
    assert md_section(markdown, "Key numbers") == [
        ["Time to acknowledge", "45s"],
        ["Time to first Orient", "—"],
        ["Time to first decision", "—"],
        ["Time to mitigation", "18m"],
        ["Time to resolve", "1h 05m"],
    ]
    assert md_section(markdown, "OODA loop") == [
        ["1", "1h 05m", "—", "—", "—", "1h 05m"],
        ["**Total**", "1h 05m", "0s", "0s", "0s", "1h 05m"],
    ]
    page = await postmortems.render(rt, number, "html")
    assert page is not None
    numbers = html_tables(page).numbers
    assert dict(zip(numbers[::2], numbers[1::2], strict=True))["Time to mitigation"] == "18m"
