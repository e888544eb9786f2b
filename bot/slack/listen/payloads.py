"""Reading a verified /slack/events body the way Bolt will, and refusing what it cannot take.

Bolt decides how to parse by the content type and the first character (JSON when the type is
`application/json` or the body starts with "{", else a form, whose `payload` field holds an
interaction's JSON). `read` does the same with the strict JSON rules of the webhooks
(bot.domain.json_values), then checks the type of every field Bolt or our listeners look into
(a `user` that is a list, an `event` that is a string make Bolt raise). What it returns is the
body Bolt gets; anything else is a `Refused` reason for the 400.

`kind` names what the request is, and `HANDLED` the kinds a listener exists for: the rest is
answered 200 and ignored without reaching Bolt (which would answer 404, and Slack shows users an
error or retries).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from bot.domain import json_values

# Interaction payload types and event envelopes a listener exists for.
HANDLED_INTERACTIONS = frozenset({"block_actions", "view_submission", "message_action"})
HANDLED_ENVELOPES = frozenset({"event_callback", "url_verification"})
# A user, team, channel or enterprise: an id string, an object with a string id, or null.
REFS = ("user", "team", "channel", "enterprise")
# Text fields: a string or null.
TEXTS = (
    "type",
    "id",
    "user_id",
    "team_id",
    "channel_id",
    "enterprise_id",
    "api_app_id",
    "trigger_id",
    "response_url",
    "callback_id",
    "action_id",
    "block_id",
    "action_ts",
    "message_ts",
    "event_ts",
    "event_id",
    "thread_ts",
    "ts",
    "value",
    "command",
    "private_metadata",
    "hash",
    "challenge",
    "reaction",
    "function_execution_id",
    "bot_access_token",
)
# Where `text` is a string (in an action or a view it is a text object).
TEXT_HOLDERS = ("", "event.", "message.", "previous_message.", "event.message.")
# Objects (or null), checked with the same rules one level down.
OBJECTS = (
    "event",
    "container",
    "view",
    "message",
    "previous_message",
    "item",
    "state",
    "assistant_thread",
    "function_data",
    "selected_option",
)
# Lists of objects (or null).
LISTS = ("authorizations", "actions", "response_urls")
MAX_DEPTH = 4  # how far down the checks follow OBJECTS and LISTS
# Who acted and where, as the bot stores them (user columns hold 40 characters).
SLACK_ID = re.compile(r"[A-Z0-9]{1,40}")
ID_FIELDS = (("user_id",), ("user", "id"), ("channel_id",), ("channel", "id"),
             ("container", "channel_id"))  # fmt: skip


class Refused(ValueError):
    """The body is not a Slack request we can read; str(exc) is the 400 answer's reason."""


@dataclass(frozen=True)
class SlackRequest:
    kind: str  # "slash_command", an interaction type, an envelope type, "ssl_check"
    body: dict[str, Any]
    handled: bool  # a listener exists for it; else answered 200 and ignored


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _shape_problem(node: dict[str, Any], where: str, depth: int = 0) -> str | None:
    """The first field of the wrong type in one object (and the objects it holds)."""
    for key in TEXTS:
        value = node.get(key)
        if value is not None and not isinstance(value, str):
            return f"{where}{key} must be a string, not {_type_name(value)}"
    url = node.get("response_url")
    if isinstance(url, str) and not url.startswith(("https://", "http://")):
        return f"{where}response_url is not an http(s) URL"
    text = node.get("text")
    if where in TEXT_HOLDERS and text is not None and not isinstance(text, str):
        return f"{where}text must be a string, not {_type_name(text)}"
    for key in REFS:
        value = node.get(key)
        if value is None or isinstance(value, str):
            continue
        if not isinstance(value, dict):
            return f"{where}{key} must be an id or an object, not {_type_name(value)}"
        inner = _shape_problem(value, f"{where}{key}.", depth + 1) if depth < MAX_DEPTH else None
        if inner:
            return inner
    if depth >= MAX_DEPTH:
        return None
    for key in OBJECTS:
        value = node.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            return f"{where}{key} must be an object, not {_type_name(value)}"
        inner = _shape_problem(value, f"{where}{key}.", depth + 1)
        if inner:
            return inner
    for key in LISTS:
        value = node.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            return f"{where}{key} must be a list of objects"
        for index, item in enumerate(value):
            inner = _shape_problem(item, f"{where}{key}[{index}].", depth + 1)
            if inner:
                return inner
    return None


def _id_problem(body: dict[str, Any]) -> str | None:
    """A user or channel id of the request that is not shaped like Slack's."""
    for path in ID_FIELDS:
        value: Any = body
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if path == ("user", "id") and isinstance(body.get("user"), str):
            value = body["user"]
        if path == ("channel", "id") and isinstance(body.get("channel"), str):
            value = body["channel"]
        if value and not SLACK_ID.fullmatch(value):
            return f"{'.'.join(path)} is not a Slack id"
    return None


def _state_problem(view: dict[str, Any]) -> str | None:
    """A submitted view's state: values → block id → action id → element object."""
    values = (view.get("state") or {}).get("values")
    if values is None:
        return None
    if not isinstance(values, dict):
        return "view.state.values must be an object"
    for block in values.values():
        if not isinstance(block, dict) or not all(isinstance(e, dict) for e in block.values()):
            return "view.state.values must map block ids to objects of input objects"
        for element in block.values():
            problem = _shape_problem(element, "view.state.values element ")
            if problem:
                return problem
            if not isinstance(element.get("selected_user"), str | None):
                return "view.state.values element selected_user must be a string"
    return None


def _json(text: str, what: str) -> dict[str, Any]:
    try:
        value = json_values.decode(text.encode("utf-8"))
    except json_values.BodyError as exc:
        raise Refused(str(exc).replace("body", what, 1)) from None
    if not isinstance(value, dict):
        raise Refused(f"{what} must be a JSON object")
    return value


def _form(text: str) -> dict[str, str]:
    fields = dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
    for key, value in fields.items():
        problem = json_values.text_problem(key) or json_values.text_problem(value)
        if problem:
            raise Refused(f"form field {key[:40]!r} {problem}")
    return fields


def _kind_of_json(body: dict[str, Any]) -> SlackRequest:
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        if "command" in body:  # Bolt would take it for a slash command: Slack sends forms
            raise Refused("a slash command must be form-encoded")
        raise Refused("body has no type")
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise Refused("event_callback without an event object with a type")
        if not body.get("event_id"):  # what makes Slack's retries of it a no-op
            raise Refused("event_callback without an event_id")
    if kind == "url_verification" and not isinstance(body.get("challenge"), str):
        raise Refused("url_verification without a challenge")
    return SlackRequest(kind, body, kind in HANDLED_ENVELOPES)


def _kind_of_payload(body: dict[str, Any]) -> SlackRequest:
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise Refused("payload has no type")
    if kind == "block_actions":
        actions = body.get("actions")
        if not actions or not all(isinstance(a.get("action_id"), str) for a in actions):
            raise Refused("block_actions without actions that have an action_id")
    elif kind == "view_submission":
        view = body.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("callback_id"), str):
            raise Refused("view_submission without a view that has a callback_id")
        if not isinstance(view.get("type"), str):  # Bolt reads it for every submission
            raise Refused("view_submission without a view type")
        if view["type"] == "workflow_step" and not isinstance(body.get("workflow_step"), dict):
            raise Refused("workflow_step view_submission without its workflow_step")
        problem = _state_problem(view)
        if problem:
            raise Refused(problem)
    elif kind == "message_action":
        if not isinstance(body.get("callback_id"), str):
            raise Refused("message_action without a callback_id")
        if not body.get("response_url"):  # Slack always sends one: the answer goes there
            raise Refused("message_action without a response_url")
    return SlackRequest(kind, body, kind in HANDLED_INTERACTIONS)


def read(raw: bytes, content_type: str | None, *, slash_command: str) -> SlackRequest:
    """The request Bolt is about to get, checked; `Refused` with the reason otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"body is not UTF-8: invalid byte at offset {exc.start}") from None
    is_json = (content_type or "").split(";")[0] == "application/json" or text.startswith("{")
    form = {} if is_json else _form(text)  # as Bolt decides
    if is_json:
        body: dict[str, Any] = _json(text, "body")
    else:
        body = _json(form["payload"], "payload") if "payload" in form else dict(form)
    problem = _shape_problem(body, "") or _id_problem(body)
    if problem:
        raise Refused(problem)
    if is_json:
        return _kind_of_json(body)
    if "payload" in form:
        return _kind_of_payload(body)
    if "command" in form:
        ours = form["command"] == slash_command
        if ours and not form.get("response_url"):  # Slack always sends one: answers go there
            raise Refused("slash command without a response_url")
        return SlackRequest("slash_command", body, ours)
    if form.get("ssl_check"):
        return SlackRequest("ssl_check", body, True)
    raise Refused("form body without a payload or a command")
