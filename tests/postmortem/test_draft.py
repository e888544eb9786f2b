"""The postmortem drafts Summary, Impact, Root cause and Resolution from the record, each
sentence citing the timeline entries it comes from; what responders wrote wins."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from bot.domain.model import TimelineEntry, TimelineKind
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.draft import draft
from bot.postmortem.render import render_postmortem


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 11, 24, hh, mm, tzinfo=UTC)


def with_entries(doc: PostmortemDoc, *entries: TimelineEntry) -> PostmortemDoc:
    return dataclasses.replace(doc, timeline=[*doc.timeline, *entries])


def test_every_drafted_sentence_cites_entries_that_are_on_the_timeline(doc: PostmortemDoc) -> None:
    doc = with_entries(
        doc,
        TimelineEntry(at(10, 16), TimelineKind.CHANGE_VERDICT, "Marked it as caused", "U1",
                      {"verdict": "caused"}),
    )  # fmt: skip
    drafted = draft(doc)
    times = {e.at for e in doc.timeline}
    sentences = [*drafted.summary, *drafted.impact, *drafted.root_cause, *drafted.resolution]
    assert sentences and all(set(s.cites) <= times for s in sentences)
    assert drafted.root_cause[0].cites == (at(10, 16),)  # the verdict is where it comes from
    md = render_postmortem(doc)
    assert "as the cause. [10:16:00]" in md


def test_what_responders_wrote_wins_over_the_draft(doc: PostmortemDoc) -> None:
    incident = dataclasses.replace(doc.incident, impact="Card payments failed for EU users.")
    md = render_postmortem(dataclasses.replace(doc, incident=incident))
    assert "## Impact\n\nCard payments failed for EU users.\n" in md
    assert "Alerts fired for" not in md


def test_nothing_recorded_means_nothing_drafted(doc: PostmortemDoc) -> None:
    bare = dataclasses.replace(doc, timeline=[], changes=[], actions=[], spans=[], decisions=[])
    bare = dataclasses.replace(
        bare, incident=dataclasses.replace(bare.incident, resolved_at=None, mitigated_at=None,
                                           acknowledged_at=None, root_cause=None)
    )  # fmt: skip
    drafted = draft(bare)
    assert drafted.root_cause == [] and drafted.resolution == []
    assert "## Root cause\n\n_To be filled in_" in render_postmortem(bare)
