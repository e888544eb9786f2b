"""Slack Web API handlers behind FakeSlack for modals (views.*) and file uploads (files.*).
They run under the fake's lock."""

from __future__ import annotations

import copy
from typing import Any

from bot.fakes._common import random_id
from bot.fakes.slack_state import SlackError, SlackState


def _store_view(s: SlackState, p: dict[str, Any], kind: str, view_id: str | None = None) -> dict:
    view = p.get("view")
    if not isinstance(view, dict) or not view.get("type"):
        raise SlackError("invalid_arguments")
    if kind != "view_updated" and not p.get("trigger_id"):
        raise SlackError("invalid_trigger_id")
    view_id = view_id or random_id("V", 10)
    stored = {
        **copy.deepcopy(view),
        "id": view_id,
        "team_id": s.team_id,
        "state": {"values": {}},
        "hash": random_id("", 12),
        "app_id": "A0FAKEAPP1",
        "bot_id": s.bot_id,
        "previous_view_id": None,
        "root_view_id": view_id,
    }
    s.views[view_id] = stored
    s.event(kind, {"view": stored})
    return {"view": copy.deepcopy(stored)}


def views_open(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    return _store_view(s, p, "view_opened")


def views_push(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    return _store_view(s, p, "view_pushed")


def views_update(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    view_id = p.get("view_id")
    if not view_id and p.get("external_id"):
        view_id = next(
            (k for k, v in s.views.items() if v.get("external_id") == p["external_id"]), None
        )
    if not view_id or view_id not in s.views:
        raise SlackError("not_found")
    if p.get("hash") and p["hash"] != s.views[view_id]["hash"]:
        raise SlackError("hash_conflict")
    return _store_view(s, p, "view_updated", view_id=str(view_id))


def files_get_upload_url_external(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    if not p.get("filename") or not p.get("length"):
        raise SlackError("invalid_arguments")
    file_id = random_id("F", 10)
    s.pending_uploads[file_id] = {"filename": str(p["filename"]), "content": None}
    return {"upload_url": f"{s.base_url()}/upload/{file_id}", "file_id": file_id}


def files_complete_upload_external(s: SlackState, p: dict[str, Any]) -> dict[str, Any]:
    items = p.get("files")
    if not isinstance(items, list) or not items:
        raise SlackError("invalid_arguments")
    chan = s.channel_param(p, "channel_id") if p.get("channel_id") else None
    if chan is None and p.get("channels"):
        chan = s.channel_param({"channel": str(p["channels"]).split(",")[0]})
    out = []
    for item in items:
        pending = s.pending_uploads.get(str(item.get("id")))
        if pending is None or pending["content"] is None:
            raise SlackError("file_not_found")
        content: bytes = pending["content"]
        try:
            text: str | None = content.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        record = {
            "id": item["id"],
            "filename": pending["filename"],
            "title": item.get("title") or pending["filename"],
            "channel": chan["id"] if chan else None,
            "initial_comment": p.get("initial_comment"),
            "thread_ts": p.get("thread_ts"),
            "content": content,
            "text": text,
        }
        del s.pending_uploads[str(item["id"])]
        s.files.append(record)
        event = {k: v for k, v in record.items() if k not in ("content", "text")}
        s.event("file", {**event, "size": len(content)})
        out.append(
            {
                "id": record["id"],
                "name": record["filename"],
                "title": record["title"],
                "size": len(content),
                "permalink": f"https://fake-workspace.slack.com/files/{s.bot_user_id}/{item['id']}",
            }
        )
    return {"files": out}
