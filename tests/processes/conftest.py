"""The Slack (a loopback fake) that the real `ooda serve` processes of these tests talk to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.fakes.slack_api import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()
