"""Mutated real Slack deliveries for the /slack/events fuzz test.

Bases start from the vendor samples (Bolt's own test bodies: a slash command form, block_actions,
view_submission, an app_mention event, url_verification), aimed at this bot: its slash command
with each subcommand, each action_id and callback_id it listens for, a reaction in the incident
channel. Each body gets 1-3 mutations (fuzz_support's values: wrong types, huge integers, lone
surrogates, NUL, newlines, deep nesting; deleted and extra keys) and is sent the way Slack sends
it: JSON for events, a form for commands, `payload=<JSON>` in a form for interactions. A few are
broken as a whole (invalid UTF-8, a payload that is not JSON, a form without a command).
"""

from __future__ import annotations

import copy
import json
import urllib.parse
from typing import Any

from hypothesis import strategies as st

from tests.helpers.fuzz import (
    DEEP,
    WHOLE_BODIES,
    _parent,
    _paths,
    strict_object,
    values,
)
from tests.helpers.samples import sample_path, vendor_sample

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
Base = tuple[str, dict[str, Any]]  # ("json" | "form" | "payload", body)

BROKEN_SLACK: list[tuple[bytes, str]] = [
    (b"command=%2Fincident&text=\xff\xfe", FORM),
    (b"payload=%7Bnot+json", FORM),
    (b"payload=%5B1%5D", FORM),
    (b"payload=", FORM),
    (b"text=hello", FORM),
    (b"", FORM),
    (b"{", FORM),  # Bolt reads a body starting with "{" as JSON whatever its type
    *((body, JSON) for body in WHOLE_BODIES),
]


def slash_form() -> dict[str, str]:
    path = sample_path("slack_slash_command.form.txt")
    return dict(urllib.parse.parse_qsl(path.read_text().strip(), keep_blank_values=True))


def bases(*, channel: str, general: str, user: str, response_url: str) -> list[Base]:
    """Real Slack bodies aimed at this bot: its command, actions, views, events."""
    who = {"user_id": user, "response_url": response_url}
    found: list[Base] = []
    form = slash_form() | who
    words = ["declare Checkout down", "declare", "help", "status", "note seen it", "ack",
             "sev 2", f"role scribe <@{user}>", "timeline 5", "decide", "resolve", "stats 7",
             "postmortem", "followup fix it", "frobnicate", "resolve all good"]  # fmt: skip
    for text in words:
        where = general if text.startswith(("declare", "stats", "help")) else channel
        found.append(("form", form | {"command": "/incident", "text": text, "channel_id": where}))
    found.append(("form", form))  # another app's command: ignored

    click = vendor_sample("slack_block_actions.json") | {"response_url": response_url}
    click["user"] = click["user"] | {"id": user}
    click["channel"] = {"id": channel, "name": "inc-1"}
    click["container"] = click["container"] | {"channel_id": channel}
    actions: list[tuple[str, Any]] = [
        ("incident_ack", "1"), ("stage_orient", "1"), ("stage_decide", "INC-1"),
        ("verdict_caused", {"i": 1, "c": "github:1"}), ("decide_other", "1"),
        ("decide_run", {"i": 1, "p": "rollback-github-actions"}), ("incident_resolve", "1"),
        ("act_approve", "1:rollback-github-actions:111.222"), ("act_cancel", "1:x:1"),
        ("reminder_snooze_15", {"incident": 1, "kind": "status", "seq": 1700000000}),
        ("pagerduty_split", "PDEMO01"), ("a", "click_me_123"),
    ]  # fmt: skip
    for action_id, value in actions:
        body = copy.deepcopy(click)
        text = value if isinstance(value, str) else json.dumps(value)
        body["actions"][0] |= {"action_id": action_id, "value": text}
        found.append(("payload", body))

    submit = vendor_sample("slack_view_submission.json") | {"user": click["user"]}
    views: list[tuple[str, str, dict[str, str]]] = [
        ("declare", general, {"title": "Payments slow", "severity": "SEV2", "service": "checkout",
                              "description": "since 14:05"}),
        ("resolve", "1", {"summary": "rolled back"}),
        ("postmortem_edit", "1", {"impact": "checkout"}),
        ("decide_other", "1", {"decision": "wait and see"}),
        ("act_confirm", json.dumps({"k": "1:rollback-github-actions:111.222", "e": []}), {}),
        ("timeline_pick", json.dumps({"c": general, "t": "1.2", "a": user, "x": "hi"}),
         {"incident": "1"}),
        ("view-id", "This is for you!", {"hspI": "test"}),
    ]  # fmt: skip
    for callback_id, meta, inputs in views:
        body = copy.deepcopy(submit)
        state = {k: {"a": {"type": "plain_text_input", "value": v}} for k, v in inputs.items()}
        body["view"] |= {"callback_id": callback_id, "private_metadata": meta}
        body["view"]["state"] = {"values": state}
        found.append(("payload", body))
    message = {"type": "message", "user": user, "ts": "1700000000.000100", "text": "look"}
    shortcut = {k: click[k] for k in ("team", "user", "channel", "token", "trigger_id")}
    for where in (channel, general):
        body = shortcut | {"type": "message_action", "callback_id": "add_to_timeline",
                           "message_ts": message["ts"], "message": message,
                           "channel": {"id": where}, "response_url": response_url}  # fmt: skip
        found.append(("payload", body))

    mention = vendor_sample("slack_event_callback_app_mention.json")
    found.append(("json", mention))
    for kind in ("reaction_added", "reaction_removed"):
        event = copy.deepcopy(mention)
        event["event"] = {"type": kind, "user": user, "reaction": "pushpin",
                          "item": {"type": "message", "channel": channel, "ts": "1.000001"},
                          "event_ts": "1.2"}  # fmt: skip
        found.append(("json", event))
    found.append(("json", vendor_sample("slack_url_verification.json")))
    return found


def encode_base(encoding: str, body: dict[str, Any]) -> tuple[bytes, str]:
    """A body sent as Slack sends it."""
    if encoding == "json":
        return json.dumps(body).encode(), JSON
    if encoding == "payload":
        return urllib.parse.urlencode({"payload": json.dumps(body)}).encode(), FORM
    return urllib.parse.urlencode(body).encode(), FORM


@st.composite
def mutated(draw: st.DrawFn, found: list[Base]) -> tuple[bytes, str]:
    """A base with 1-3 value mutations, encoded as Slack would; sometimes broken as a whole."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(BROKEN_SLACK))
    encoding, original = draw(st.sampled_from(found))
    body = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(body, path)
        op = draw(st.sampled_from(["set", "set", "set", "delete", "add", "wrap"]))
        if op == "set":
            parent[path[-1]] = draw(values)
        elif op == "delete":
            del parent[path[-1]]
        elif op == "wrap":
            parent[path[-1]] = draw(st.sampled_from([[parent[path[-1]]], {"v": parent[path[-1]]}]))
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(values)
    depth = draw(st.sampled_from([10, 500, 5000]))
    deep = "[" * depth + "]" * depth
    if encoding == "form":  # a form holds text only
        text = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        fields = {k: v.replace(json.dumps(DEEP), deep).replace(DEEP, deep) for k, v in text.items()}
        return urllib.parse.urlencode(fields, errors="surrogatepass").encode(), FORM
    raw = json.dumps(body).replace(json.dumps(DEEP), deep)
    if encoding == "json":
        return raw.encode(), JSON
    return urllib.parse.urlencode({"payload": raw}).encode(), FORM


def readable(raw: bytes, content_type: str) -> bool:
    """The contract, written out on its own: UTF-8; a JSON object under fuzz_support's strict
    rules (for a JSON body, or a form's `payload`); form fields without NUL; a form holds a
    payload or a command. What is not readable must be answered 400."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if content_type == JSON or text.startswith("{"):
        return strict_object(raw) is not None
    fields = dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
    if any("\x00" in k or "\x00" in v for k, v in fields.items()):
        return False
    if "payload" in fields:
        return strict_object(fields["payload"].encode()) is not None
    return "command" in fields or bool(fields.get("ssl_check"))
