"""Block Kit messages: one function per card or reply; the modals are in bot.slack.out.forms.
Text comes from Jinja2 templates."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from bot.domain.model import IncidentView, RankedChange, StageSpan
from bot.domain.playbooks import Suggestion
from bot.domain.stages import next_stage, time_in_current_stage
from bot.slack.ids import ActionId, BlockId, stage_button
from bot.slack.out import blocks as bk
from bot.slack.out.text import escape, mention, render

MAX_ALERTS = 10
MAX_CHANGES = 5


def _roles(inc: IncidentView) -> dict[str, Any]:
    return {r: mention(inc.roles.get(r)) for r in ("commander", "comms", "scribe")}


def topic(inc: IncidentView) -> str:
    # The title is escaped; the commander is a real mention (a plain string here would be
    # escaped into a literal "&lt;@U…&gt;").
    commander = inc.roles.get("commander")
    return render(
        "channel_topic", inc=inc, commander=mention(commander) if commander else "unassigned"
    )


def opened(inc: IncidentView, declared_by: str | None) -> tuple[str, list[bk.Block]]:
    text = render("opened", inc=inc, declared_by=declared_by)
    return text, [bk.section(text)]


def summary(
    inc: IncidentView,
    spans: list[StageSpan],
    *,
    top: RankedChange | None,
    last_action: str | None,
    now: datetime,
) -> tuple[str, list[bk.Block]]:
    """The pinned live summary, kept current with chat.update."""
    roles = _roles(inc)
    in_stage = time_in_current_stage(spans, now)
    stage_line = (
        f"*Stage:* {inc.stage.value.capitalize()} ({render('status_duration', d=in_stage)})"
        if inc.status.value != "resolved"
        else "*Stage:* resolved"
    )
    facts = [
        f"*Severity:* {inc.severity.label}",
        f"*Status:* {inc.status.value}",
        stage_line,
        f"*Commander:* {roles['commander']}",
        f"*Comms:* {roles['comms']}",
        f"*Scribe:* {roles['scribe']}",
    ]
    # Escaped like every other header here (render does it): user text never reaches Slack raw.
    title = bk.header(f"{inc.ref} · {escape(inc.title)}")
    blocks = [title, bk.section("*Live summary*", fields=facts)]
    lines = []
    if top is not None:
        lines.append(render("summary_suspect", r=top, c=top.change))
    if last_action:
        lines.append(render("summary_action", text=last_action))
    if inc.pd_url:
        lines.append(render("summary_pd", url=inc.pd_url))
    if lines:
        blocks.append(bk.context(*lines))
    return f"{inc.ref} live summary: {inc.severity.label}, {inc.stage.value}", blocks


def observe(
    inc: IncidentView,
    observation: dict[str, Any],
    *,
    now: datetime,
    declared_by: str | None = None,
) -> tuple[str, list[bk.Block]]:
    """The Observe card. It is the first message of the channel, so it opens with the line
    that says what the incident is (the same text is announced elsewhere)."""
    alerts = observation.get("alerts", [])
    since = now - inc.first_alert_at if inc.first_alert_at else None
    opened = render("opened", inc=inc, declared_by=declared_by)
    facts = render(
        "observe_facts",
        inc=inc,
        since=since,
        pd_status=observation.get("pd_status"),
        service_label=observation.get("pd_service_name"),
        drill=observation.get("drill"),
    )
    blocks: list[bk.Block] = [
        bk.header(render("observe_header", inc=inc)),
        bk.section(f"{opened}\n{facts}"),
    ]
    if alerts:
        shown = alerts[:MAX_ALERTS]
        blocks.append(
            bk.section(render("observe_alerts", alerts=shown, more=len(alerts) - len(shown)))
        )
    people = observation.get("notified") or observation.get("escalations")
    extra = [render("observe_people", o=observation)] if people else []
    linked = observation.get("linked") or []
    if len(linked) > 1:
        extra.append(render("observe_linked", linked=linked))
    if extra:
        blocks.append(bk.context(*extra))
    for attached in linked[1:]:
        # One section per attached PagerDuty incident: action ids must be unique per block.
        label = f"#{attached.get('number') or attached['id']} {attached.get('title') or ''}"
        # Splitting acts at once (new incident, channel, PagerDuty link): confirm first.
        split = bk.button(
            "Split out",
            ActionId.PAGERDUTY_SPLIT,
            str(attached["id"]),
            confirm=bk.confirm_dialog(
                "Split out?",
                f"Detach {escape(label)} into its own incident and channel?",
                "Split out",
            ),
        )
        text = render("observe_attached", url=attached.get("url"), label=label)
        blocks.append(bk.section(text, accessory=split))
    if observation.get("missing"):
        blocks.append(bk.context(render("missing_context", missing=observation["missing"])))
    if observation.get("loading"):
        blocks.append(bk.context(render("loading_context", loading=observation["loading"])))
    value = str(inc.number)
    buttons = []
    if inc.status.value == "triggered":
        buttons.append(bk.button("Acknowledge", ActionId.INCIDENT_ACK, value, style="primary"))
    if inc.status.value != "resolved":  # the card stays live after resolve, without buttons
        buttons.append(bk.button("Orient →", ActionId.STAGE_ORIENT, value))
        blocks.append(bk.actions(*buttons, block_id=BlockId.OBSERVE_ACTIONS))
    firing = sum(1 for a in alerts if a.get("status") != "resolved")
    return f"{inc.ref} Observe: {firing} alert(s) firing", blocks


def change_key(ranked: RankedChange) -> str:
    return f"{ranked.change.source}:{ranked.change.external_id}"


def orient(
    inc: IncidentView,
    ranked: list[RankedChange],
    *,
    missing: list[str],
    in_catalog: bool,
    window_hours: float,
    similar: list[str],
) -> tuple[str, list[bk.Block]]:
    blocks: list[bk.Block] = [bk.header(render("orient_header", inc=inc))]
    if not in_catalog:
        blocks.append(bk.context(render("orient_not_in_catalog")))
    if not ranked:
        blocks.append(
            bk.section(render("orient_empty", window_hours=window_hours, service=inc.service))
        )
    for n, item in enumerate(ranked[:MAX_CHANGES], start=1):
        blocks.append(bk.section(render("orient_change", n=n, ranked=item, change=item.change)))
        value = json.dumps({"i": inc.number, "c": change_key(item)})
        blocks.append(
            bk.actions(
                bk.button("Suspect", ActionId.VERDICT_SUSPECT, value),
                bk.button("Caused", ActionId.VERDICT_CAUSED, value, style="danger"),
                bk.button("Not related", ActionId.VERDICT_NOT_RELATED, value),
            )
        )
    if similar:
        blocks.append(bk.context(render("orient_similar", similar=similar)))
    if missing:
        blocks.append(bk.context(render("missing_context", missing=missing)))
    blocks.append(
        bk.actions(bk.button("Decide →", ActionId.STAGE_DECIDE, str(inc.number), style="primary"))
    )
    top = ranked[0] if ranked else None
    text = f"{inc.ref} Orient: {len(ranked)} change(s)" + (
        f", top: {escape(top.change.summary)}" if top else ""
    )
    return text, blocks


def decide(
    inc: IncidentView, suggestions: list[Suggestion], *, command: str
) -> tuple[str, list[bk.Block]]:
    blocks: list[bk.Block] = [bk.header(render("decide_header"))]
    if not suggestions:
        blocks.append(bk.section(render("decide_empty", command=command)))
    for s in suggestions:
        value = json.dumps({"i": inc.number, "p": s.playbook.id})
        style = "danger" if s.risk == "high" else "primary"
        blocks.append(
            bk.section(
                render("decide_suggestion", s=s),
                accessory=bk.button(s.label[:75], ActionId.DECIDE_RUN, value, style=style),
            )
        )
    blocks.append(bk.actions(bk.button("Something else…", ActionId.DECIDE_OTHER, str(inc.number))))
    return f"{inc.ref} Decide: {len(suggestions)} suggestion(s)", blocks


def action_result(
    title: str, *, ok: bool, dry_run: bool, duration: str, detail: str, hint: str
) -> tuple[str, list[bk.Block]]:
    text = render(
        "act_result",
        title=title,
        ok=ok,
        dry_run=dry_run,
        duration=duration,
        detail=detail,
        hint=hint,
    )
    return text, [bk.section(text)]


def action_interrupted(title: str) -> tuple[str, list[bk.Block]]:
    text = render("act_interrupted", title=title)
    return text, [bk.section(text)]


def verify_result(text: str, *, cleared: bool, number: int) -> list[bk.Block]:
    blocks = [bk.section(text)]
    if cleared:
        blocks.append(
            bk.actions(
                bk.button(
                    "Resolve incident", ActionId.INCIDENT_RESOLVE, str(number), style="primary"
                )
            )
        )
    return blocks


def needs_second_approval(title: str, key: str, first: str) -> tuple[str, list[bk.Block]]:
    text = render("needs_second", title=title, first=first)
    button = bk.button(
        "Approve",
        ActionId.ACT_APPROVE,
        key,
        style="danger",
        confirm=bk.confirm_dialog("Approve action?", f"Run {escape(title)} now?", "Run it"),
    )
    cancel = bk.button(  # dropping a pending request cannot be undone
        "Cancel",
        ActionId.ACT_CANCEL,
        key,
        confirm=bk.confirm_dialog(
            "Cancel action?", f"Drop the request to run {escape(title)}?", "Drop it", "Keep it"
        ),
    )
    return text, [bk.section(text), bk.actions(button, cancel)]


def action_cancelled(title: str, by: str) -> tuple[str, list[bk.Block]]:
    text = render("action_cancelled", title=title, by=by)
    return text, [bk.section(text)]


STALL_HINTS = {
    "observe": "still observing — acknowledge, or move to Orient when you know what is firing.",
    "orient": "still orienting — mark a suspect change or move to Decide.",
    "decide": "still deciding — pick an action, write your own decision, or go back to Orient.",
    "act": "still acting — check the action's result, or go back to Observe.",
}


def reminder(
    inc: IncidentView,
    *,
    kind: str,
    value: dict[str, Any],
    waited: timedelta | None,
    command: str = "/incident",
) -> tuple[str, list[bk.Block]]:
    """A reminder nudge with snooze buttons; the button value carries the reminder payload."""
    if kind == "stall":
        text = render(
            "reminder_stall", inc=inc, waited=waited, hint=STALL_HINTS.get(inc.stage.value, "")
        )
    else:
        text = render("reminder_status", inc=inc, comms=inc.roles.get("comms"), command=command)
    payload = json.dumps(
        {k: value[k] for k in ("incident", "kind", "stage", "span", "seq") if k in value}
    )
    buttons = [
        bk.button("Snooze 15 min", ActionId.SNOOZE_15, payload),
        bk.button("Snooze 1 h", ActionId.SNOOZE_60, payload),
    ]
    if kind == "stall":
        following = next_stage(inc.stage)
        buttons.insert(
            0,
            bk.button(
                f"{following.value.capitalize()} →",
                stage_button(following),
                str(inc.number),
                style="primary",
            ),
        )
    return text, [bk.section(text), bk.actions(*buttons, block_id=BlockId.REMINDER_ACTIONS)]


def reminder_snoozed(text: str, *, minutes: int, by: str) -> tuple[str, list[bk.Block]]:
    """The nudge after a snooze: same words, buttons replaced by who snoozed it."""
    note = render("reminder_snoozed", minutes=minutes, by=by)
    return text, [bk.section(text), bk.context(note)]


def second_approval_given(title: str, first: str | None, second: str) -> tuple[str, list[bk.Block]]:
    text = render("second_given", title=title, first=first, second=second)
    return text, [bk.section(text)]
