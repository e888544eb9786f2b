"""The id a Slack request's log lines (and its jobs') carry: `slack:<event or trigger id>`."""

from __future__ import annotations

import pytest

from bot.slack.listen.app import slack_request_id


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"event_id": "Ev1", "trigger_id": "t"}, "slack:Ev1"),
        ({"trigger_id": "123.456"}, "slack:123.456"),
        ({"view": {"id": "V9"}}, "slack:V9"),
        ({"view": "x"}, None),
        ("not a dict", None),
    ],
)
def test_slack_request_id(body: object, expected: str | None) -> None:
    assert slack_request_id(body) == expected
