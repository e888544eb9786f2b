"""Types and settings for the `stack` and `make_stack` fixtures (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from bot.devstack import DevStack

# Verify polls PagerDuty every 0.2 s instead of every few seconds: an action's verdict is in
# before the stack settles.
FAST_VERIFY = {"OODA_VERIFY_POLL_SECONDS": "0.2"}


class MakeStack(Protocol):
    """The `make_stack` fixture: a DevStack on the test's directory and database, not started
    (`async with make_stack(config, env=...) as stack:` runs it)."""

    def __call__(
        self,
        config: dict[str, Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        workdir: Path | None = None,
    ) -> DevStack: ...
