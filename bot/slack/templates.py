"""Slack message text templates (Jinja2). Values are mrkdwn-escaped by bot.slack.text."""

TEMPLATES: dict[str, str] = {
    "channel_topic": (
        "{{ inc.severity.label }} · {{ inc.stage.value|capitalize }} · "
        "Commander: {{ commander }} · {{ inc.title }}"
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
        "*Urgency:* {{ inc.urgency or 'unknown' }} · *PagerDuty status:* {{ pd_status or 'unknown' }}\n"
        "*Firing since:* {{ inc.first_alert_at|hhmm }} ({{ since|duration }} ago)"
        "{% if inc.pd_url %}\n{{ inc.pd_url|link('Open in PagerDuty') }}{% endif %}"
    ),
    "observe_alerts": (
        "{% for a in alerts %}"
        "{% if a.status == 'resolved' %}:white_check_mark:{% else %}:red_circle:{% endif %} "
        "{{ a.summary }} — {{ a.status }} since {{ a.created_at }}\n"
        "{% endfor %}"
        "{% if more %}_…and {{ more }} more_{% endif %}"
    ),
    "missing_context": (
        ":warning: *Context unavailable:* "
        "{% for m in missing %}{{ m }}{% if not loop.last %}; {% endif %}{% endfor %}"
    ),
    "orient_header": "Orient · what changed before {{ inc.first_alert_at|hhmm }}?",
    "orient_change": (
        "*{{ n }}.* {{ change.summary }}"
        "{% if change.short_sha %} `{{ change.short_sha }}`{% endif %}"
        " · {{ change.source }}{% if ranked.likely %} · :dart: *likely suspect*{% endif %}\n"
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
    "act_running": ":gear: Running *{{ title }}* (approved by {{ approvers }})…",
    "act_result": (
        "{% if ok %}:white_check_mark:{% else %}:x:{% endif %} *{{ title }}* "
        "{% if dry_run %}(dry run) {% endif %}{{ 'succeeded' if ok else 'failed' }}"
        " in {{ duration }}.\n{{ detail }}"
        "{% if not ok %}\n_Try:_ {{ hint }}{% endif %}"
    ),
    "back_to_observe": (
        ":arrows_counterclockwise: Back to *Observe*: checking whether the alerts clear"
        "{% if minutes %} (for up to {{ minutes }} min){% endif %}."
    ),
    "verify_cleared": (
        ":large_green_circle: Alerts cleared {{ after|duration }} after *{{ title }}*. "
        "Resolve the incident when you are confident."
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
        "`{{ command }} declare <title>` open an incident (no title: a form)\n"
        "`{{ command }} status` where the incident stands\n"
        "`{{ command }} note <text>` add a note to the timeline\n"
        "`{{ command }} observe|orient|decide|act` move the loop to a stage\n"
        "`{{ command }} resolve` resolve the incident and write the postmortem\n"
        "`{{ command }} postmortem` post the postmortem again\n"
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
            "{% if o.escalations %} · Escalations: {{ o.escalations|join(', ') }}{% endif %}"
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
    }
)
