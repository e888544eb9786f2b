"""Slack posts around an action run: their failure is logged, never stops or strands the run."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

log = logging.getLogger(__name__)


async def best_effort(key: str, what: str, work: Awaitable[Any]) -> None:
    """Post to Slack without letting a Slack error stop or strand the action run."""
    try:
        await work
    except Exception:
        log.warning("action %s: could not %s", key, what, exc_info=True)
