"""The Slack manifest says exactly what the code listens to, and has a scope for every Web API
method the code calls. Listeners are found by replaying the app's registration against a
recorder; method calls by scanning the source for `client.<method>(`."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from re import Pattern
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from typer.testing import CliRunner

from bot.catalog import OodaConfig
from bot.cli import app as cli
from bot.service.runtime import Runtime, build_runtime
from bot.settings import Settings
from bot.slack.listen.app import build_bolt_app, register_listeners
from bot.slack.listen.manifest import (
    BOT_SCOPES,
    EVENT_SCOPES,
    FEATURE_SCOPES,
    METHOD_SCOPES,
    build_manifest,
)

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "slack-manifest.json"
CALL = re.compile(r"\bclient\.([a-z]+_[A-Za-z0-9_]+)\(")


class ListenerRecorder:
    """Stands in for the Bolt app during registration and remembers every listener."""

    def __init__(self) -> None:
        self.seen: dict[str, list[Any]] = defaultdict(list)

    def _record(self, kind: str) -> Any:
        def register(constraints: Any, *args: Any, **kwargs: Any) -> Any:
            self.seen[kind].append(constraints)
            return lambda func: func

        return register

    def __getattr__(self, kind: str) -> Any:
        if kind in ("command", "action", "event", "shortcut", "view", "options", "message"):
            return self._record(kind)
        raise AttributeError(f"registration through app.{kind} is not covered by this test")

    def ids(self, kind: str) -> set[str]:
        """String ids (callback_id / action_id / event type), from strings or dicts."""
        out = set()
        for c in self.seen[kind]:
            if isinstance(c, str):
                out.add(c)
            elif isinstance(c, dict):
                out.add(c.get("callback_id") or c.get("action_id") or c.get("type"))
        return out

    def patterns(self, kind: str) -> list[Pattern[str]]:
        return [c for c in self.seen[kind] if isinstance(c, Pattern)]


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=f"sqlite:///{tmp_path / 'm.db'}",
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="s",
        OODA_CONFIG=str(tmp_path / "none.yaml"),
    )
    return build_runtime(settings, config=OodaConfig())


@pytest.fixture
def recorder(runtime: Runtime) -> ListenerRecorder:
    recorded = ListenerRecorder()
    register_listeners(recorded, runtime)  # type: ignore[arg-type]
    return recorded


def manifest(runtime: Runtime, **kwargs: Any) -> dict[str, Any]:
    return build_manifest(
        command=runtime.settings.slash_command, base_url="https://ooda.example.com", **kwargs
    )


def test_recorder_sees_every_listener_of_the_real_app(
    runtime: Runtime, recorder: ListenerRecorder
) -> None:
    bolt = build_bolt_app(runtime)
    assert len(bolt._async_listeners) == sum(len(v) for v in recorder.seen.values())


def test_commands_match(runtime: Runtime, recorder: ListenerRecorder) -> None:
    declared = {c["command"] for c in manifest(runtime)["features"]["slash_commands"]}
    assert recorder.ids("command") == declared


def test_shortcuts_match(runtime: Runtime, recorder: ListenerRecorder) -> None:
    declared = {s["callback_id"] for s in manifest(runtime)["features"].get("shortcuts", [])}
    assert recorder.ids("shortcut") == declared


def test_events_match(runtime: Runtime, recorder: ListenerRecorder) -> None:
    declared = set(manifest(runtime)["settings"]["event_subscriptions"]["bot_events"])
    assert recorder.ids("event") == declared
    # The only pattern allowed is the catch-all that answers 200 to anything else.
    assert [p.pattern for p in recorder.patterns("event")] == [".+"]


def test_actions_and_views_need_interactivity(runtime: Runtime, recorder: ListenerRecorder) -> None:
    assert recorder.ids("action") and recorder.ids("view")
    interactivity = manifest(runtime)["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].endswith("/slack/events")


def called_methods() -> dict[str, list[str]]:
    calls: dict[str, list[str]] = defaultdict(list)
    for path in (ROOT / "bot").rglob("*.py"):
        if "fakes" in path.parts:
            continue
        for method in CALL.findall(path.read_text(encoding="utf-8")):
            if hasattr(AsyncWebClient, method):  # a Slack call, not another vendor's client
                calls[method].append(str(path.relative_to(ROOT)))
    return calls


def test_every_called_method_has_its_scope() -> None:
    calls = called_methods()
    assert "chat_postMessage" in calls and "conversations_history" in calls  # the scan works
    unknown = sorted(set(calls) - set(METHOD_SCOPES))
    assert not unknown, f"add these Web API methods to METHOD_SCOPES: {unknown}"
    missing = {m: s for m in calls for s in METHOD_SCOPES[m] if s not in BOT_SCOPES}
    assert not missing, f"scopes missing from the manifest: {missing}"


def test_every_declared_scope_is_used(recorder: ListenerRecorder) -> None:
    needed = {s for m in called_methods() for s in METHOD_SCOPES[m]}
    needed |= {s for e in recorder.ids("event") for s in EVENT_SCOPES.get(e, ())}
    if recorder.ids("command") or recorder.ids("shortcut"):
        needed.add("commands")
    needed.add("chat:write.public")
    assert set(FEATURE_SCOPES) <= needed
    assert sorted(set(BOT_SCOPES) - needed) == [], "declared but never used"
    assert sorted(needed - set(BOT_SCOPES)) == [], "used but not declared"


def test_committed_copy_is_current(runtime: Runtime) -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == manifest(runtime), "regenerate: ooda manifest > slack-manifest.json"


def test_socket_mode_manifest_has_no_request_urls(runtime: Runtime) -> None:
    built = manifest(runtime, socket_mode=True)
    assert built["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in built["settings"]["event_subscriptions"]
    assert "request_url" not in built["settings"]["interactivity"]
    assert all("url" not in c for c in built["features"]["slash_commands"])
    assert built["oauth_config"] == manifest(runtime)["oauth_config"]


def test_cli_prints_the_manifest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("OODA_SLASH_COMMAND", "/inc")
    result = CliRunner().invoke(cli, ["manifest", "--url", "https://bot.example.org/"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["features"]["slash_commands"][0]["command"] == "/inc"
    assert printed["settings"]["event_subscriptions"]["request_url"] == (
        "https://bot.example.org/slack/events"
    )
    socket = CliRunner().invoke(cli, ["manifest", "--socket-mode"])
    assert json.loads(socket.output)["settings"]["socket_mode_enabled"] is True


def test_console_adds_sign_in_with_slack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    without = json.loads(CliRunner().invoke(cli, ["manifest", "--url", "https://b.example"]).output)
    assert "redirect_urls" not in without["oauth_config"]
    assert "user" not in without["oauth_config"]["scopes"]
    monkeypatch.setenv("SLACK_CLIENT_ID", "1234.5678")
    result = CliRunner().invoke(cli, ["manifest", "--url", "https://b.example/"])
    assert result.exit_code == 0, result.output
    oauth = json.loads(result.output)["oauth_config"]
    assert oauth["redirect_urls"] == ["https://b.example/auth/callback"]
    assert oauth["scopes"]["user"] == ["openid", "email", "profile"]
    assert oauth["scopes"]["bot"] == without["oauth_config"]["scopes"]["bot"]
