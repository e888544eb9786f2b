"""The postmortem's Summary, Impact, Root cause and Resolution drafted from the record.

Only facts the bot stored go in: what fired and for how long, which change was marked Caused
and where the ranking put it, which action ran and who approved it, what verify saw, how long
each stage took. Every sentence cites the timeline entries it comes from (by their time, as
the Timeline section lists them). Responders' own text (`/incident postmortem edit`) is shown
instead of the draft wherever they wrote one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.model import STAGE_ORDER, RankedChange, TimelineEntry, TimelineKind, Verdict
from bot.domain.ranking import evidence_sentence, pick_suspect
from bot.domain.stages import format_duration
from bot.postmortem.document import PostmortemDoc


@dataclass(frozen=True)
class Sentence:
    text: str
    cites: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class Draft:
    summary: list[Sentence] = field(default_factory=list)
    impact: list[Sentence] = field(default_factory=list)
    root_cause: list[Sentence] = field(default_factory=list)
    resolution: list[Sentence] = field(default_factory=list)


def _first(entries: list[TimelineEntry], kind: TimelineKind) -> TimelineEntry | None:
    return next((e for e in entries if e.kind is kind), None)


def _cites(*entries: TimelineEntry | None) -> tuple[datetime, ...]:
    """The entries' times, each second once (the Timeline lists them to the second)."""
    seconds = (e.at.replace(microsecond=0) for e in entries if e is not None)
    return tuple(dict.fromkeys(seconds))


def _name(doc: PostmortemDoc, users: tuple[str, ...] | list[str]) -> str:
    names = [doc.display_name(u) for u in users if u]
    return ", ".join(names) if names else "nobody recorded"


def _named(ranked: RankedChange) -> str:
    """The change as people name it: the deploy abc1234 “v1.43: retry policy” to checkout."""
    change = ranked.change
    noun = evidence_sentence(ranked).split(" ", 1)[0]
    ident = f" {change.short_sha}" if change.short_sha else ""
    target = f" to {change.service}" if change.service else ""
    return f"the {noun}{ident} “{change.summary}”{target}"


def draft(doc: PostmortemDoc) -> Draft:
    entries = doc.sorted_timeline
    inc = doc.incident
    opened = _first(entries, TimelineKind.OPENED)
    resolved = _first(entries, TimelineKind.RESOLVED)
    alerts = [e for e in entries if e.kind is TimelineKind.ALERT]
    verifies = [e for e in entries if e.kind is TimelineKind.VERIFY]
    numbers = doc.key_numbers

    where = f" on {inc.service}" if inc.service else ""
    summary = [Sentence(f"{inc.severity.label} incident{where}: {inc.title}.", _cites(opened))]
    if inc.resolved_at is not None:
        took = format_duration(inc.resolved_at - inc.opened_at)
        summary.append(Sentence(f"Resolved {took} after it was opened.", _cites(opened, resolved)))

    impact: list[Sentence] = []
    start = inc.first_alert_at or inc.opened_at
    end = doc.mitigated_at or inc.resolved_at
    if end is not None:
        cleared = next((e for e in verifies if e.data.get("passed")), None) or resolved
        impact.append(
            Sentence(
                f"Alerts fired for {format_duration(end - start)}, from the first alert to "
                f"{'mitigation' if doc.mitigated_at else 'resolution'}.",
                _cites(alerts[0] if alerts else opened, cleared),
            )
        )
    if alerts:
        impact.append(
            Sentence(f"{len(alerts)} alert event(s) are on the timeline.", _cites(*alerts[:3]))
        )
    if numbers.time_to_acknowledge is not None:
        acked = next(
            (
                e
                for e in entries
                if e.kind is TimelineKind.STATUS and "acknowledg" in e.text.lower()
            ),
            None,
        )
        impact.append(
            Sentence(
                f"It was acknowledged after {format_duration(numbers.time_to_acknowledge)}.",
                _cites(acked),
            )
        )

    root_cause: list[Sentence] = []
    ranked = doc.changes
    caused = next((r for r in ranked if r.verdict is Verdict.CAUSED), None)
    if caused is not None:
        marked = next(
            (
                e
                for e in entries
                if e.kind is TimelineKind.CHANGE_VERDICT and e.data.get("verdict") == "caused"
            ),
            None,
        ) or next((e for e in entries if e.kind is TimelineKind.CHANGE_VERDICT), None)
        rank = ranked.index(caused) + 1
        root_cause.append(
            Sentence(f"Responders marked {_named(caused)} as the cause.", _cites(marked))
        )
        orient = next((e for e in entries if e.kind is TimelineKind.CONTEXT), None)
        root_cause.append(
            Sentence(
                f"The ranking put it {rank} of {len(ranked)} (score {caused.score:.2f}): "
                f"{caused.reason}.",
                _cites(orient, marked),
            )
        )

    elif (suspect := pick_suspect(ranked)) is not None and doc.actions:
        decided = next((e for e in entries if e.kind is TimelineKind.DECISION), None)
        orient = next((e for e in entries if e.kind is TimelineKind.CONTEXT), None)
        rank = ranked.index(suspect) + 1
        root_cause.append(
            Sentence(
                f"Likely {_named(suspect)}, the top suspect when the action was chosen "
                "(no change was marked Caused).",
                _cites(decided),
            )
        )
        root_cause.append(
            Sentence(
                f"The ranking put it {rank} of {len(ranked)} (score {suspect.score:.2f}): "
                f"{suspect.reason}.",
                _cites(orient),
            )
        )

    resolution: list[Sentence] = []
    actions = [e for e in entries if e.kind is TimelineKind.ACTION]
    for run in doc.sorted_actions:
        cited = [e for e in actions if e.data.get("key") == run.key] or [
            e for e in actions if e.text.startswith(run.title)
        ]
        cited = cited[:2]
        approved = _name(doc, run.approved_by)
        resolution.append(
            Sentence(
                f"“{run.title}” ran (requested by {_name(doc, [run.requested_by or ''])}, "
                f"approved by {approved}): {run.status.replace('_', ' ')}.",
                _cites(*cited),
            )
        )
        verdict = next((e for e in verifies if e.data.get("key") == run.key), None)
        if verdict is not None:
            resolution.append(Sentence(f"Verify: {verdict.text}.", _cites(verdict)))
    stages = [
        f"{s.value.capitalize()} {format_duration(doc.stage_totals[s])}"
        for s in STAGE_ORDER
        if doc.stage_totals.get(s)
    ]
    if stages:
        moves = [e for e in entries if e.kind is TimelineKind.STAGE][:4]
        resolution.append(Sentence("Time per stage: " + ", ".join(stages) + ".", _cites(*moves)))
    return Draft(summary, impact, root_cause, resolution)
