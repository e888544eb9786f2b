"""The Slack app manifest, generated from what the code listens to and calls."""

from __future__ import annotations

from typing import Any

# Bot scopes and why: keep in step with the Web API methods the gateway calls.
BOT_SCOPES = [
    "commands",  # the slash command
    "chat:write",  # chat.postMessage / chat.update / chat.postEphemeral
    "chat:write.public",  # announcements channels the bot was not invited to
    "channels:manage",  # conversations.create / setTopic / invite
    "channels:read",  # conversations.info
    "channels:history",  # read a 📌-pinned message for the timeline
    "groups:history",
    "pins:write",  # pin the live summary
    "reactions:read",  # reaction_added / reaction_removed
    "reactions:write",  # confirm a captured message with a reaction
    "users:read",  # users.info (names in postmortems)
    "users:read.email",  # users.lookupByEmail (invite PagerDuty assignees)
    "files:write",  # files_upload_v2 (the postmortem)
]

BOT_EVENTS = ["reaction_added", "reaction_removed"]


def build_manifest(*, command: str, base_url: str, name: str = "ooda-bot") -> dict[str, Any]:
    events_url = base_url.rstrip("/") + "/slack/events"
    return {
        "display_information": {
            "name": name,
            "description": "Runs incidents through Observe, Orient, Decide, Act.",
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [
                {
                    "command": command,
                    "url": events_url,
                    "description": "Declare and run incidents (OODA loop)",
                    "usage_hint": "declare <title> | status | note <text> | resolve | help",
                    "should_escape": False,
                }
            ],
            "shortcuts": [
                {
                    "name": "Add to incident timeline",
                    "type": "message",
                    "callback_id": "add_to_timeline",
                    "description": "Put this message on an incident's timeline",
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": {"request_url": events_url, "bot_events": BOT_EVENTS},
            "interactivity": {"is_enabled": True, "request_url": events_url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }
