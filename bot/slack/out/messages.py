"""Slack message text templates (Jinja2). Values are mrkdwn-escaped by bot.slack.out.text."""

TEMPLATES: dict[str, str] = {
    "channel_topic": (
        "{{ inc.severity.label }} · "
        "{% if inc.status.value == 'resolved' %}Resolved{% else %}{{ inc.stage.value|capitalize }}{% endif %}"
        " · Commander: {{ commander }} · {{ inc.title }}"
    ),
    "opened": (
        ":rotating_light: *{{ inc.ref }} opened* — {{ inc.title }}\n"
        "{{ inc.severity.label }}{% if inc.service %} · service *{{ inc.service }}*{% endif %}"
        "{% if inc.pd_url %} · {{ inc.pd_url|link('PagerDuty incident') }}{% endif %}"
        "{% if declared_by %} · declared by {{ declared_by|mention }}{% endif %}"
    ),
    "observe_header": "Observe · {{ inc.ref }} · {{ inc.title }}",
    "observe_facts": (
        "*Service:* {{ inc.service or service_label or 'not in the catalog' }}\n"
        "*Urgency:* {{ inc.urgency or 'unknown' }} · "
        # Resolved here while PagerDuty still answers with its old status: ours is the news.
        "{% if drill %}*Drill:* `{{ drill }}` (alerts from the scenario; nothing is paged)"
        "{% elif inc.status.value == 'resolved' and pd_status != 'resolved' %}*Status:* resolved"
        "{% else %}*PagerDuty status:* {{ pd_status or 'unknown' }}{% endif %}\n"
        "*Firing since:* {{ inc.first_alert_at|hhmm }} ({{ since|duration }} ago)"
        "{% if inc.pd_url %}\n{{ inc.pd_url|link('Open in PagerDuty') }}{% endif %}"
    ),
    "observe_alerts": (
        "{% for a in alerts %}"
        "{% if a.status == 'resolved' %}:white_check_mark:{% else %}:red_circle:{% endif %} "
        "{{ a.summary }} — {{ a.status }} since {{ a.created_at }}"
        "{% if a.get('new') %} · :new: *new*{% endif %}\n"
        "{% endfor %}"
        "{% if more %}_…and {{ more }} more_{% endif %}"
    ),
    "missing_context": (
        ":warning: *Context unavailable:* "
        "{% for m in missing %}{{ m }}{% if not loop.last %}; {% endif %}{% endfor %}"
    ),
    "loading_context": (
        ":hourglass_flowing_sand: *Still loading:* "
        "{% for m in loading %}{{ m }}{% if not loop.last %}; {% endif %}{% endfor %}"
    ),
    "orient_header": "Orient · what changed before {{ inc.first_alert_at|hhmm }}?",
    "orient_change": (
        "*{{ n }}.* {{ change.summary }}"
        "{% if change.short_sha %} `{{ change.short_sha }}`{% endif %}"
        " · {{ (change.data.get('linked_sources') or [change.source])|join(' + ') }}"
        "{% if ranked.likely %} · :dart: *likely suspect*{% endif %}\n"
        "score {{ '%.2f'|format(ranked.score) }} — {{ ranked.reason }}"
        "{% if ranked.verdict %}\nverdict: *{{ ranked.verdict.value|replace('_', ' ') }}*{% endif %}"
    ),
    "orient_empty": (
        "No changes found in the {{ window_hours|int }} h before the first alert"
        "{% if service %} for *{{ service }}* or its dependencies{% endif %}."
    ),
    "orient_not_in_catalog": (
        ":grey_question: This PagerDuty service is not in the services catalog: "
        "showing recent changes everywhere."
    ),
    "decide_header": "Decide · suggested actions",
    "decide_suggestion": (
        "*{{ s.label }}*\n"
        "risk *{{ s.risk }}* · may run: {{ s.roles|join(', ') }}"
        "{% if s.approvals > 1 %} · needs {{ s.approvals }} approvals{% endif %}\n"
        "{% for e in s.evidence %}• {{ e }}\n{% endfor %}"
    ),
    "decide_empty": (
        "No playbook matches this context. Write your own decision with "
        "`{{ command }} note`, or move on when ready."
    ),
    "decision_recorded": (
        ":brain: *Decision* by {{ by|mention }}: {{ text }}{% if reason %}\n_why:_ {{ reason }}{% endif %}"
    ),
    "act_running": (
        ":gear: Running *{{ title }}* (approved by "
        "{% for a in approvers %}{{ a|mention }}{% if not loop.last %}, {% endif %}{% endfor %})…"
    ),
    "act_result": (
        "{% if ok %}:white_check_mark:{% else %}:x:{% endif %} *{{ title }}* "
        "{% if dry_run %}(dry run) {% endif %}{{ 'succeeded' if ok else 'failed' }}"
        " in {{ duration }}.\n{{ detail }}"
        "{% if not ok %}\n_Try:_ {{ hint }}{% endif %}"
    ),
    "act_interrupted": (
        ":warning: *{{ title }}* was interrupted: the bot restarted while it ran. "
        "Check the target system before running it again. Back to *Decide*."
    ),
    "back_to_observe": (
        ":arrows_counterclockwise: Back to *Observe*: checking whether the alerts clear"
        "{% if window %} (for up to {{ window|duration }}){% endif %}."
    ),
    "verify_unwatched": (
        ":arrows_counterclockwise: Back to *Observe*: {{ title }} ran, and this incident has no "
        "PagerDuty alerts to watch. Check your dashboards, then resolve when it is fixed."
    ),
    "verify_cleared": (
        ":large_green_circle: Alerts cleared {{ after|duration }} after *{{ title }}*. "
        "Resolve the incident when you are confident."
    ),
    "budget_over": (
        ":hourglass: *{{ stage|capitalize }}* has taken {{ waited|duration }}, over its "
        "{{ budget|duration }} budget for {{ severity }}."
        "{% if help %} Asking PagerDuty for more help.{% endif %}"
    ),
    "budget_escalated": (
        ":rotating_light: Escalated the PagerDuty incident to level {{ level }}: "
        "{{ stage|capitalize }} is over its budget."
    ),
    "budget_escalation_failed": (
        ":warning: Could not escalate the PagerDuty incident ({{ error }}): page more help by hand."
    ),
    "verify_firing": (
        ":red_circle: Still firing {{ after|duration }} after *{{ title }}*: marked not effective. "
        "Back to *Orient*."
    ),
    "stage_moved": "Stage → *{{ stage|capitalize }}*{% if by %} (by {{ by|mention }}){% endif %}",
    "note_added": ":memo: {{ by|mention }}: {{ text }}",
    "resolved": (
        ":white_check_mark: *{{ inc.ref }} resolved* after {{ duration|duration }}"
        "{% if by %} by {{ by|mention }}{% endif %}. Postmortem below."
    ),
    "status": (
        "*{{ inc.ref }}* — {{ inc.title }}\n"
        "{{ inc.severity.label }} · {{ inc.status.value }} · stage *{{ inc.stage.value|capitalize }}* "
        "for {{ in_stage|duration }}\n"
        "Commander: {{ commander }} · Comms: {{ comms }} · Scribe: {{ scribe }}"
        "{% if inc.pd_url %}\n{{ inc.pd_url|link('PagerDuty') }}{% endif %}"
        "{% if alerts %}\n*Latest alerts:*{% for a in alerts %}\n• {{ a.summary }} ({{ a.status }}){% endfor %}{% endif %}"
    ),
    "help": (
        "*{{ command }}* — run an incident through Observe → Orient → Decide → Act\n"
        "`{{ command }} declare [--drill] <title>` open an incident (no title: a form)\n"
        "`{{ command }} drill [name] [service]` rehearse a scenario, scored at resolve (no name: the list)\n"
        "`{{ command }} status` where the incident stands\n"
        "`{{ command }} note <text>` add a note to the timeline\n"
        "`{{ command }} sev <1-4>` change the severity\n"
        "`{{ command }} role <commander|comms|scribe> @user` hand a role over\n"
        "`{{ command }} timeline [n]` the last n timeline entries (only you see them)\n"
        "`{{ command }} ack` acknowledge (here and in PagerDuty)\n"
        "`{{ command }} observe|orient|decide|act` move the loop to a stage\n"
        "`{{ command }} resolve` resolve the incident and write the postmortem\n"
        "`{{ command }} postmortem [edit]` post the postmortem again (edit: summary, impact, cause)\n"
        "`{{ command }} followup &lt;text&gt; [@owner]` record a follow-up action item\n"
        "`{{ command }} stats [service] [days] [chart]` MTTA, MTTR and time per OODA stage\n"
        "`{{ command }} help` this help"
    ),
    "unknown_command": "I don't know `{{ word }}`. Here is what I can do:",
    "no_incident_here": (
        "This channel is not an incident channel. Run it in the incident's channel"
        "{% if active %}; active: {% for i in active %}{{ i.channel_id|channel }} ({{ i.ref }}){% if not loop.last %}, {% endif %}{% endfor %}{% endif %}."
    ),
}

TEMPLATES.update(
    {
        "status_duration": "{{ d|duration }}",
        "summary_suspect": (
            ":dart: Top suspect: {{ c.summary }}{% if c.short_sha %} `{{ c.short_sha }}`{% endif %}"
            " (score {{ '%.2f'|format(r.score) }}"
            "{% if r.verdict %}, verdict {{ r.verdict.value|replace('_', ' ') }}{% endif %})"
        ),
        "summary_action": ":gear: Last action: {{ text }}",
        "summary_pd": "{{ url|link('PagerDuty incident') }}",
        "observe_people": (
            "{% if o.notified %}Notified: {{ o.notified|join(', ') }}{% endif %}"
            "{% if o.notified and o.escalations %} · {% endif %}"
            "{% if o.escalations %}Escalations: {{ o.escalations|join(', ') }}{% endif %}"
        ),
        "observe_linked": (
            "Also attached: {% for l in linked[1:] %}{{ l.url|link('#' ~ l.number ~ ' ' ~ l.title) }}"
            "{% if not loop.last %}, {% endif %}{% endfor %}"
        ),
        "orient_similar": (
            "*Similar past incidents:*{% for s in similar %}\n• {{ s }}{% endfor %}"
        ),
        "confirm_intro": (
            "*{{ s.label }}* for {{ inc.ref }}{% if dry_run %} — *dry run*: nothing will change{% endif %}\n"
            "risk *{{ s.risk }}* · may run: {{ s.roles|join(', ') }}"
            "{% if s.approvals > 1 %} · needs {{ s.approvals }} approvals{% endif %}"
        ),
        "confirm_steps": "*What will run:*\n{{ steps|raw }}",
        "needs_second": (
            ":lock: *{{ title }}* is high risk: approved by {{ first|mention }}, "
            "needs a second approver."
        ),
        "action_cancelled": ":no_entry_sign: *{{ title }}* cancelled by {{ by|mention }}; nothing ran.",
        "second_given": (
            ":unlock: *{{ title }}* approved by {{ first|mention }} and {{ second|mention }}: running."
        ),
    }
)

# Postmortems, follow-ups and stats (issue 7).
TEMPLATES.update(
    {
        "resolved_announce": (
            ":white_check_mark: *{{ inc.ref }} resolved* after {{ duration|duration }}"
            "{% if by %} by {{ by|mention }}{% endif %} — {{ inc.title }} "
            "({{ inc.severity.label }}{% if inc.service %}, {{ inc.service }}{% endif %})\n"
            ":page_facing_up: Postmortem: "
            "{% if url %}{{ url|link('read it') }}{% else %}in {{ inc.channel_id|channel }}{% endif %}"
            "{% if url and inc.channel_id %} · channel {{ inc.channel_id|channel }}{% endif %}"
        ),
        "followup_added": (
            ":pushpin: *Follow-up* {{ text }}"
            "{% if owner %} · owner {{ owner|mention }}{% endif %}"
            "{% if by %} (added by {{ by|mention }}){% endif %}"
        ),
        "followup_usage": "Usage: `{{ command }} followup &lt;what to do&gt; [@owner]`",
        "stats": "```{{ table }}```",
        "stats_usage": "Usage: `{{ command }} stats [service] [days] [chart]`",
    }
)

# PagerDuty, both ways (issue 4).
TEMPLATES.update(
    {
        "responders_invited": (
            ":busts_in_silhouette: Invited {{ why }}: "
            "{% for u in users %}{{ u|mention }}{% if not loop.last %}, {% endif %}{% endfor %}"
        ),
        "pd_note": ":memo: {{ who }} (PagerDuty): {{ text }}",
        "pd_event": ":pager: PagerDuty: {{ text }}{% if who %} ({{ who }}){% endif %}",
        "pd_attached": (
            ":link: PagerDuty incident {{ url|link('#' ~ number ~ ' ' ~ title) }} attached to "
            "{{ inc.ref }} (same service within {{ minutes|int }} min)."
        ),
        "pd_split": (
            ":scissors: PagerDuty incident #{{ number }} split out of {{ inc.ref }} "
            "into INC-{{ new_number }}{% if by %} by {{ by|mention }}{% endif %}."
        ),
        "pd_write_failed": ":warning: Could not {{ what }} in PagerDuty: {{ error }}",
        "observe_attached": ":link: Attached: {{ url|link(label) }}",
    }
)

# Issue 3: severity, roles, timeline, 📌 capture, reminders.
TEMPLATES.update(
    {
        "severity_changed": (
            ":rotating_light: *{{ inc.ref }}* severity {{ old }} → *{{ new }}*"
            "{% if by %} (by {{ by|mention }}){% endif %} — {{ inc.title }}"
        ),
        "role_assigned": "{{ user|mention }} is now *{{ role }}*{% if by %} (set by {{ by|mention }}){% endif %}",
        "sev_usage": "Usage: `{{ command }} sev <1-4>`, e.g. `{{ command }} sev 2`",
        "role_usage": (
            "Usage: `{{ command }} role <commander|comms|scribe> @user`, "
            "e.g. `{{ command }} role comms @alice`"
        ),
        "timeline_usage": "Usage: `{{ command }} timeline [n]`, e.g. `{{ command }} timeline 20`",
        "timeline": (
            "*{{ inc.ref }} timeline* (last {{ entries|length }})"
            "{% for e in entries %}\n`{{ e.at|hhmm }}` {{ e.kind.value }}"
            "{% if e.actor %} · {{ e.actor|mention }}{% endif %} — {{ e.text }}{% endfor %}"
            "{% if not entries %}\n_nothing yet_{% endif %}"
        ),
        "timeline_captured": (
            ":pushpin: {{ by|mention }} added a message from {{ source|channel }} to the timeline"
        ),
        "timeline_no_incident": (
            "No active incident to add this to. Declare one with `{{ command }} declare <title>`."
        ),
        "reminder_stall": (
            ":hourglass: *{{ inc.ref }}* has been in *{{ inc.stage.value|capitalize }}* for "
            "{{ waited|duration }}: {{ hint }}"
        ),
        "reminder_status": (
            ":loudspeaker: *{{ inc.ref }}* status update due"
            "{% if comms %}, {{ comms|mention }}{% endif %}: post what changed with "
            "`{{ command }} note <text>`."
        ),
        "reminder_snoozed": ":zzz: Snoozed for {{ minutes }} min by {{ by|mention }}.",
    }
)

# Drills: the scenarios, the start, the scorecard at resolve.
TEMPLATES.update(
    {
        "drill_usage": (
            "Usage: `{{ command }} drill <name> [service]` starts a rehearsal in its own channel "
            "(alerts and changes from the scenario, actions run dry, kept out of stats). "
            "Scenarios:{% for s in scenarios %}\n• `{{ s.name }}` — {{ s.title }} "
            "({{ s.severity }}, {{ s.service }}){% endfor %}"
            "{% if not scenarios %} _none found_{% endif %}"
            "{% if problems %}\n:warning: {{ problems|length }} scenario file(s) have problems: "
            "run `ooda drill validate`.{% endif %}"
        ),
        "drill_unknown": "No drill scenario named `{{ scenario_name }}`.",
        "drill_unknown_service": (
            "`{{ service }}` is not in the service catalog; play `{{ scenario_name }}` on its own "
            "service ({{ default }}) or on one of: {{ known|join(', ') }}."
        ),
        "drill_started": (
            ":test_tube: Drill *{{ scenario.title }}* started as INC-{{ number }} "
            "({{ scenario.severity }}, on {{ service }}); its channel is being created."
        ),
        "drill_scorecard": (
            ":test_tube: *Drill scorecard* — {{ card.title }} (`{{ card.scenario }}`): "
            "*{{ card.total }}/{{ card.out_of }}*\n"
            "*Stages* (responders' time · target · team median on real {{ card.severity }}s"
            "{% if not card.team_count %}: none yet{% endif %}"
            "{% if card.speed != 1 %}; the scenario's clock ran {{ card.speed|round|int }}× "
            "faster{% endif %}):"
            "{% for s in card.stages %}\n{% if s.within %}:white_check_mark:{% else %}:x:{% endif %}"
            " {{ s.stage|capitalize }} {% if s.reached %}{{ s.seconds|seconds }}{% else %}not reached{% endif %}"
            " · {{ s.target_seconds|seconds }}"
            " · {{ s.team_median_seconds|seconds }} (+{{ s.points }}){% endfor %}\n"
            "*Cause:* {% if card.cause.expected %}{{ card.cause.summary }} — "
            "{% if card.cause.verdict %}marked {{ card.cause.verdict }} "
            "{{ card.cause.after_seconds|seconds }} in{% else %}never marked{% endif %}"
            "{% else %}no change to blame — "
            "{% if card.cause.found %}none was marked Caused{% else %}a change was marked Caused{% endif %}"
            "{% endif %}{% if card.cause.wrong %}; wrongly marked Caused: "
            "{{ card.cause.wrong|length }}{% endif %} (+{{ card.cause.points }})\n"
            "*Action:* {% if card.action.chosen %}{{ card.action.title }} — "
            "{% if card.action.acceptable %}acceptable{% else %}not one of "
            "{{ card.action.expected|join(', ') }}"
            "{% if card.action.acceptable_later %} (an acceptable one ran later){% endif %}"
            "{% endif %}{% else %}none ran (acceptable: {{ card.action.expected|join(', ') }})"
            "{% endif %} (+{{ card.action.points }})\n"
            "*Mitigation:* {% if card.mitigation.after_seconds is not none %}alerts cleared "
            "{{ card.mitigation.after_seconds|seconds }} after the start"
            "{% if card.mitigation.by_itself %}, by themselves (nothing was done first){% endif %}"
            "{% else %}the alerts never cleared{% endif %} (+{{ card.mitigation.points }})\n"
            "*The bot's grade:* {% if not card.ranking.expected %}no true cause to rank"
            "{% elif not card.ranking.candidates %}no ranking (Orient never ranked the changes)"
            "{% elif card.ranking.rank %}ranked the true cause #{{ card.ranking.rank }} of "
            "{{ card.ranking.candidates }}{% else %}the true cause was not among its "
            "{{ card.ranking.candidates }} suspects{% endif %}"
        ),
    }
)
