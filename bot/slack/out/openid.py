"""Sign in with Slack (OpenID Connect) over the Web API: the code exchanged for tokens
(`openid.connect.token`), the person read back (`openid.connect.userInfo`), and the team of the
bot token (`auth.test`) whose members may sign in."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.out.gateway import build_web_client


class SignInError(Exception):
    """Slack refused the sign-in (a bad or used code, wrong client credentials)."""


@dataclass(frozen=True)
class SlackPerson:
    user_id: str
    team_id: str
    name: str
    email: str | None


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str | None


async def exchange_code(
    base_url: str, *, client_id: str, client_secret: str, code: str, redirect_uri: str
) -> Tokens:
    client = build_web_client(None, base_url, retries=False)
    try:
        answer = await client.openid_connect_token(
            client_id=client_id, client_secret=client_secret, code=code, redirect_uri=redirect_uri
        )
    except SlackApiError as exc:
        raise SignInError(str(exc.response.get("error"))) from exc
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise SignInError("no access token")
    id_token = answer.get("id_token")
    return Tokens(token, id_token if isinstance(id_token, str) else None)


async def person(base_url: str, access_token: str) -> SlackPerson:
    client = build_web_client(access_token, base_url, retries=False)
    try:
        info = await client.openid_connect_userInfo()
    except SlackApiError as exc:
        raise SignInError(str(exc.response.get("error"))) from exc
    user_id = info.get("https://slack.com/user_id") or info.get("sub")
    team_id = info.get("https://slack.com/team_id")
    if not isinstance(user_id, str) or not isinstance(team_id, str):
        raise SignInError("userInfo named no user or team")
    name = info.get("name") or info.get("given_name") or user_id
    email = info.get("email")
    return SlackPerson(user_id, team_id, str(name), email if isinstance(email, str) else None)


def id_token_claims(id_token: str) -> dict[str, Any]:
    """The claims of an id_token Slack handed us directly over TLS (the token endpoint's own
    answer: OpenID Connect Core 3.1.3.7 lets the client skip the signature then)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise SignInError("unreadable id_token") from exc
    if not isinstance(claims, dict):
        raise SignInError("unreadable id_token")
    return claims


async def bot_team_id(client: AsyncWebClient) -> str:
    """The workspace of the bot token (auth.test)."""
    answer = await client.auth_test()
    return str(answer["team_id"])
