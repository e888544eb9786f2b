"""The Slack app manifest, generated from what the code listens to and calls.

tests/slack/test_manifest.py keeps it honest: every command, shortcut and event the listeners
use is declared here (and nothing more), and every Web API method the code calls has its scope.
A copy for `/incident` at https://ooda.example.com is committed as slack-manifest.json.
"""

from __future__ import annotations

from typing import Any

from bot.slack.ids import ShortcutId

# Web API method (as slack_sdk names it) -> the bot scopes it needs. Methods that need no
# scope (views.*, chat.getPermalink, auth.test) map to nothing.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth_test": (),
    "chat_postMessage": ("chat:write",),
    "chat_update": ("chat:write",),
    "chat_delete": ("chat:write",),
    "chat_postEphemeral": ("chat:write",),
    "chat_getPermalink": (),
    "conversations_create": ("channels:manage",),
    "conversations_setTopic": ("channels:manage",),
    "conversations_invite": ("channels:manage",),
    "conversations_archive": ("channels:manage",),
    "conversations_join": ("channels:join",),
    "conversations_info": ("channels:read",),
    "conversations_members": ("channels:read",),
    "conversations_list": ("channels:read",),  # a channel created by a call whose answer was lost
    "conversations_history": ("channels:history",),  # the 📌 message, fetched by its ts
    "pins_add": ("pins:write",),
    "pins_remove": ("pins:write",),
    "reactions_add": ("reactions:write",),
    "reactions_remove": ("reactions:write",),
    "users_info": ("users:read",),
    "users_lookupByEmail": ("users:read", "users:read.email"),  # PagerDuty assignees by email
    "views_open": (),
    "views_push": (),
    "views_update": (),
    "files_upload_v2": ("files:write",),
    # Sign in with Slack for the web console: the person's user scopes (CONSOLE_USER_SCOPES).
    "openid_connect_token": (),
    "openid_connect_userInfo": (),
}

# Scopes that Slack ties to a feature rather than a method.
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "reaction_added": ("reactions:read",),
    "reaction_removed": ("reactions:read",),
}
FEATURE_SCOPES: dict[str, str] = {
    "commands": "the slash command and the message shortcut",
    # chat.postMessage into an announcements channel the bot was never invited to.
    "chat:write.public": "announcements channels",
}

BOT_SCOPES = [
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:manage",
    "channels:history",
    "channels:read",
    "pins:write",
    "reactions:read",
    "reactions:write",
    "users:read",
    "users:read.email",
    "files:write",
]

BOT_EVENTS = ["reaction_added", "reaction_removed"]

# Sign in with Slack (OpenID Connect) for the web console: who the person is, nothing more.
CONSOLE_USER_SCOPES = ["openid", "email", "profile"]

SHORTCUTS = [
    {
        "name": "Add to incident timeline",
        "type": "message",
        "callback_id": ShortcutId.ADD_TO_TIMELINE,
        "description": "Put this message on an incident's timeline",
    }
]

USAGE_HINT = "declare <title> | status | sev <1-4> | role <role> @user | note <text> | help"


def build_manifest(
    *,
    command: str,
    base_url: str,
    name: str = "ooda-bot",
    socket_mode: bool = False,
    console: bool = False,
) -> dict[str, Any]:
    """The manifest; with socket_mode, Slack talks over a WebSocket and no request URL is set;
    with console, Sign in with Slack's redirect URL and user scopes for the web console."""
    events_url = base_url.rstrip("/") + "/slack/events"
    slash: dict[str, Any] = {
        "command": command,
        "description": "Declare and run incidents (OODA loop)",
        "usage_hint": USAGE_HINT,
        # Slack sends mentions as <@U…|name>: `role … @user` needs the user id.
        "should_escape": True,
    }
    events: dict[str, Any] = {"bot_events": BOT_EVENTS}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket_mode:
        slash["url"] = events_url
        events["request_url"] = events_url
        interactivity["request_url"] = events_url
    oauth: dict[str, Any] = {"scopes": {"bot": BOT_SCOPES}}
    if console:
        oauth["redirect_urls"] = [base_url.rstrip("/") + "/auth/callback"]
        oauth["scopes"]["user"] = CONSOLE_USER_SCOPES
    return {
        "display_information": {
            "name": name,
            "description": "Runs incidents through Observe, Orient, Decide, Act.",
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [slash],
            "shortcuts": SHORTCUTS,
        },
        "oauth_config": oauth,
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
