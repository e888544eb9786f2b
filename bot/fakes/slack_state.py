"""In-memory Slack workspace behind FakeSlack: users, channels, messages, files, views, events."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.fakes._common import random_id, utcnow


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def as_bool(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


@dataclass
class SlackState:
    lock: threading.RLock
    bot_user_id: str
    bot_id: str
    team_id: str
    bot_name: str
    base_url: Callable[[], str]
    users: dict[str, str] = field(default_factory=dict)  # email -> id
    user_names: dict[str, str] = field(default_factory=dict)  # id -> name
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    index: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    pending_uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)
    last_ts: int = 0

    # -- ids, users, channels ------------------------------------------------------------
    def next_ts(self) -> str:
        micro = max(int(time.time() * 1_000_000), self.last_ts + 100)
        self.last_ts = micro
        return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"

    def add_user(self, email: str, user_id: str, *, name: str | None = None) -> str:
        with self.lock:
            self.users[email] = user_id
            self.user_names[user_id] = name or email.split("@")[0]
        return user_id

    def new_channel(
        self, name: str, *, id: str | None = None, is_private: bool = False, creator: str = ""
    ) -> dict[str, Any]:
        cid = id or random_id("G" if is_private else "C", 10)
        chan: dict[str, Any] = {
            "id": cid,
            "name": name,
            "created": int(time.time()),
            "creator": creator or self.bot_user_id,
            "is_private": is_private,
            "is_archived": False,
            "is_im": False,
            "members": {self.bot_user_id},
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "pins": set(),
        }
        self.channels[cid] = chan
        return chan

    def resolve(self, ref: str) -> str | None:
        """Channel id for an id, a name or #name; a user id opens (or finds) a DM."""
        if ref in self.channels:
            return ref
        name = ref.lstrip("#")
        for chan in self.channels.values():
            if chan["name"] == name and not chan["is_im"]:
                return str(chan["id"])
        if ref[:1] in ("U", "W"):
            for chan in self.channels.values():
                if chan["is_im"] and chan["user"] == ref:
                    return str(chan["id"])
            chan = self.new_channel("", id=random_id("D", 10))
            chan.update(is_im=True, user=ref)
            chan["members"].add(ref)
            return str(chan["id"])
        return None

    def label(self, ident: str) -> str:
        chan = self.channels.get(ident)
        if chan is not None:
            return f"@{self.user_label(chan['user'])} (DM)" if chan["is_im"] else f"#{chan['name']}"
        return "@" + self.user_label(ident)

    def user_label(self, user_id: str) -> str:
        if user_id == self.bot_user_id:
            return self.bot_name
        return self.user_names.get(user_id, user_id)

    def public_channel(self, chan: dict[str, Any], *, members: bool = True) -> dict[str, Any]:
        out = {
            "id": chan["id"],
            "name": chan["name"],
            "name_normalized": chan["name"],
            "is_channel": not chan["is_private"] and not chan["is_im"],
            "is_group": False,
            "is_im": chan["is_im"],
            "is_mpim": False,
            "is_private": chan["is_private"],
            "created": chan["created"],
            "creator": chan["creator"],
            "is_archived": chan["is_archived"],
            "is_general": False,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "context_team_id": self.team_id,
            "is_member": self.bot_user_id in chan["members"],
            "topic": dict(chan["topic"]),
            "purpose": dict(chan["purpose"]),
            "previous_names": [],
            "num_members": len(chan["members"]),
        }
        if chan["is_im"]:
            out["user"] = chan["user"]
        if members:
            out["members"] = sorted(chan["members"])
            out["pinned"] = sorted(chan["pins"])
        return out

    def public_message(self, m: dict[str, Any]) -> dict[str, Any]:
        keys = ("channel", "ts", "text", "blocks", "attachments", "thread_ts", "user", "bot_id")
        out = {k: copy.deepcopy(m.get(k)) for k in keys}
        out["reactions"] = [
            {"name": n, "users": list(u), "count": len(u)} for n, u in m["reactions"].items() if u
        ]
        out["pinned"] = m["ts"] in self.channels[m["channel"]]["pins"]
        out["edited"] = m["edits"] > 0
        out["metadata"] = copy.deepcopy(m.get("metadata"))
        return out

    def api_message(self, m: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "message",
            "user": m["user"],
            "bot_id": m["bot_id"],
            "app_id": "A0FAKEAPP1",
            "text": m["text"],
            "ts": m["ts"],
            "team": self.team_id,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if m.get(key) is not None:
                out[key] = copy.deepcopy(m[key])
        if m["edits"]:
            out["edited"] = {"user": m["user"], "ts": m["edited_ts"]}
        return out

    def event(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((utcnow(), kind, copy.deepcopy(data)))

    # -- lookups used by handlers --------------------------------------------------------
    def channel_param(self, params: dict[str, Any], key: str = "channel") -> dict[str, Any]:
        cid = self.resolve(str(params.get(key) or ""))
        if not params.get(key) or cid is None:
            raise SlackError("channel_not_found")
        return self.channels[cid]

    def message_param(self, chan: dict[str, Any], ts: Any) -> dict[str, Any]:
        msg = self.index.get((chan["id"], str(ts or "")))
        if msg is None or msg["deleted"]:
            raise SlackError("message_not_found")
        return msg

    def user_object(self, user_id: str) -> dict[str, Any]:
        email = next((e for e, u in self.users.items() if u == user_id), None)
        name = self.user_label(user_id)
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": name.replace(".", " ").title(),
            "deleted": False,
            "is_bot": user_id == self.bot_user_id,
            "tz": "Etc/UTC",
            "profile": {
                "email": email,
                "real_name": name.replace(".", " ").title(),
                "display_name": name,
            },
        }
