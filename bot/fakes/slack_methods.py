"""Slack Web API method handlers behind FakeSlack. They run under the fake's lock."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from bot.fakes.slack_state import SlackError, SlackState, as_bool
from bot.fakes.slack_views_files import (
    files_complete_upload_external,
    files_get_upload_url_external,
    views_open,
    views_push,
    views_update,
)

_NAME_OK = re.compile(r"[a-z0-9_\-]+")


# -- method handlers -----------------------------------------------------------------------
def auth_test(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": "https://fake-workspace.slack.com/",
        "team": "Fake Workspace",
        "user": s.bot_name,
        "team_id": s.team_id,
        "user_id": s.bot_user_id,
        "bot_id": s.bot_id,
        "is_enterprise_install": False,
    }


def conversations_create(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    name = str(p.get("name") or "")
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > 80:
        raise SlackError("invalid_name_maxlength")
    if not _NAME_OK.fullmatch(name):
        raise SlackError("invalid_name_specials")
    if any(c["name"] == name for c in s.channels.values()):
        raise SlackError("name_taken")
    chan = s.new_channel(name, is_private=as_bool(p.get("is_private")))
    s.event("channel_created", {"channel": chan["id"], "creator": chan["creator"]})
    return {"channel": s.public_channel(chan, members=False)}


def conversations_info(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    return {"channel": s.public_channel(s.channel_param(p), members=False)}


def conversations_set_topic(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    topic = str(p.get("topic") or "")
    if len(topic) > 250:
        raise SlackError("too_long")
    chan["topic"] = {"value": topic, "creator": s.bot_user_id, "last_set": int(time.time())}
    s.event("topic", {"channel": chan["id"], "topic": topic})
    return {"channel": s.public_channel(chan, members=False)}


def conversations_invite(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    users = [u.strip() for u in str(p.get("users") or "").split(",") if u.strip()]
    if not users:
        raise SlackError("no_user")
    if s.bot_user_id in users:
        raise SlackError("cant_invite_self")
    bad = [u for u in users if u[:1] not in ("U", "W")]
    if bad:
        raise SlackError("user_not_found", errors=[{"user": u, "ok": False} for u in bad])
    new = [u for u in users if u not in chan["members"]]
    if not new:
        raise SlackError("already_in_channel")
    chan["members"].update(new)
    s.event("invite", {"channel": chan["id"], "users": new})
    return {"channel": s.public_channel(chan, members=False)}


def conversations_join(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    out: dict[str, Any] = {}
    if s.bot_user_id in chan["members"]:
        out["warning"] = "already_in_channel"
    else:
        chan["members"].add(s.bot_user_id)
        s.event("join", {"channel": chan["id"]})
    return {"channel": s.public_channel(chan, members=False), **out}


def conversations_archive(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    if chan["is_archived"]:
        raise SlackError("already_archived")
    chan["is_archived"] = True
    s.event("archive", {"channel": chan["id"]})
    return {}


def conversations_members(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    return {"members": sorted(chan["members"]), "response_metadata": {"next_cursor": ""}}


def conversations_list(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    skip_archived = as_bool(p.get("exclude_archived"))
    found = [
        s.public_channel(c, members=False)
        for c in s.channels.values()
        if not c["is_im"] and not c["is_private"] and not (skip_archived and c["is_archived"])
    ]
    return {"channels": found, "response_metadata": {"next_cursor": ""}}


def conversations_history(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    limit = int(p.get("limit") or 100)
    inclusive = as_bool(p.get("inclusive"))
    latest, oldest = p.get("latest"), p.get("oldest")

    def in_range(ts: str) -> bool:  # latest/oldest bound the window, exclusive unless inclusive
        t = float(ts)
        if latest and (t > float(latest) or (t == float(latest) and not inclusive)):
            return False
        return not (oldest and (t < float(oldest) or (t == float(oldest) and not inclusive)))

    msgs = [
        s.api_message(m)
        for m in reversed(s.messages)
        if m["channel"] == chan["id"]
        and not m["deleted"]
        and not m.get("thread_ts")
        and in_range(m["ts"])
    ]
    return {"messages": msgs[:limit], "has_more": len(msgs) > limit, "pin_count": len(chan["pins"])}


def _writable(s: SlackState, chan: dict[str, Any]) -> None:
    if chan["is_archived"]:
        raise SlackError("is_archived")
    if s.bot_user_id not in chan["members"]:
        raise SlackError("not_in_channel")


def chat_post_message(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    _writable(s, chan)
    if not (p.get("text") or p.get("blocks") or p.get("attachments")):
        raise SlackError("no_text")
    msg = {
        "channel": chan["id"],
        "ts": s.next_ts(),
        "text": p.get("text") or "",
        "blocks": p.get("blocks"),
        "attachments": p.get("attachments"),
        "thread_ts": p.get("thread_ts") or None,
        "metadata": p.get("metadata"),
        "user": s.bot_user_id,
        "bot_id": s.bot_id,
        "reactions": {},
        "edits": 0,
        "edited_ts": None,
        "deleted": False,
    }
    s.messages.append(msg)
    s.index[(chan["id"], msg["ts"])] = msg
    s.event("message", msg)
    return {"channel": chan["id"], "ts": msg["ts"], "message": s.api_message(msg)}


def chat_update(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    msg = s.message_param(chan, p.get("ts"))
    if "text" in p:
        msg["text"] = p["text"] or ""
    for key in ("blocks", "attachments", "metadata"):  # omitted -> kept, [] -> removed
        if key in p:
            msg[key] = p[key] or None
    msg["edits"] += 1
    msg["edited_ts"] = s.next_ts()
    s.event("update", msg)
    return {
        "channel": chan["id"],
        "ts": msg["ts"],
        "text": msg["text"],
        "message": s.api_message(msg),
    }


def chat_delete(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    msg = s.message_param(chan, p.get("ts"))
    msg["deleted"] = True
    s.event("delete", msg)
    return {"channel": chan["id"], "ts": msg["ts"]}


def chat_post_ephemeral(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    if not p.get("user"):
        raise SlackError("user_not_found")
    if not (p.get("text") or p.get("blocks") or p.get("attachments")):
        raise SlackError("no_text")
    eph = {
        "channel": chan["id"],
        "user": str(p["user"]),
        "ts": s.next_ts(),
        "text": p.get("text") or "",
        "blocks": p.get("blocks"),
        "attachments": p.get("attachments"),
        "thread_ts": p.get("thread_ts") or None,
    }
    s.ephemerals.append(eph)
    s.event("ephemeral", eph)
    return {"message_ts": eph["ts"]}


def chat_get_permalink(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    msg = s.message_param(chan, p.get("message_ts"))
    link = f"https://fake-workspace.slack.com/archives/{chan['id']}/p{msg['ts'].replace('.', '')}"
    return {"channel": chan["id"], "permalink": link}


def pins_add(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    if not p.get("timestamp"):
        raise SlackError("no_item_specified")
    msg = s.message_param(chan, p.get("timestamp"))
    if msg["ts"] in chan["pins"]:
        raise SlackError("already_pinned")
    chan["pins"].add(msg["ts"])
    s.event("pin", msg)
    return {}


def pins_remove(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    msg = s.message_param(chan, p.get("timestamp"))
    if msg["ts"] not in chan["pins"]:
        raise SlackError("no_pin")
    chan["pins"].discard(msg["ts"])
    return {}


def reactions_add(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    msg = s.message_param(chan, p.get("timestamp"))
    name = str(p.get("name") or "").strip(":")
    if not name:
        raise SlackError("invalid_name")
    users = msg["reactions"].setdefault(name, [])
    if s.bot_user_id in users:
        raise SlackError("already_reacted")
    users.append(s.bot_user_id)
    s.event("reaction", {"channel": chan["id"], "ts": msg["ts"], "name": name})
    return {}


def reactions_remove(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    chan = s.channel_param(p)
    msg = s.message_param(chan, p.get("timestamp"))
    users = msg["reactions"].get(str(p.get("name") or "").strip(":"), [])
    if s.bot_user_id not in users:
        raise SlackError("no_reaction")
    users.remove(s.bot_user_id)
    return {}


def users_lookup_by_email(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    user_id = s.users.get(str(p.get("email") or ""))
    if user_id is None:
        raise SlackError("users_not_found")
    return {"user": s.user_object(user_id)}


def users_info(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    user_id = str(p.get("user") or "")
    if user_id not in s.user_names and user_id != s.bot_user_id:
        raise SlackError("user_not_found")
    return {"user": s.user_object(user_id)}


METHODS: dict[str, Callable[[SlackState, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": auth_test,
    "conversations.create": conversations_create,
    "conversations.info": conversations_info,
    "conversations.setTopic": conversations_set_topic,
    "conversations.invite": conversations_invite,
    "conversations.join": conversations_join,
    "conversations.archive": conversations_archive,
    "conversations.members": conversations_members,
    "conversations.history": conversations_history,
    "conversations.list": conversations_list,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "pins.add": pins_add,
    "pins.remove": pins_remove,
    "reactions.add": reactions_add,
    "reactions.remove": reactions_remove,
    "users.lookupByEmail": users_lookup_by_email,
    "users.info": users_info,
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
}
