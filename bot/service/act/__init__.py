"""Act: approval, the run, verification of the fix, recovery of interrupted runs.

One module per lifecycle; every public name is re-exported here, so callers keep writing
``from bot.service import act`` and ``act.approve(...)``, ``act.run(...)``.
"""

from __future__ import annotations

from bot.domain.action_runs import FINISHED
from bot.service.act.approval import (
    MAX_ATTEMPTS_PER_CARD,
    NotAllowed,
    action_key,
    approve,
    cancel,
    prepare,
    role_refusal,
    runs_dry,
)
from bot.service.act.recovery import (
    INTERRUPTED,
    INTERRUPTED_RUNS,
    STALE_RUN_AFTER,
    maintenance,
    recover_interrupted,
)
from bot.service.act.running import UNEXPECTED, UNEXPECTED_HINT, run
from bot.service.act.verification import (
    DEFAULT_POLL_SECONDS,
    DEFAULT_VERIFY_MINUTES,
    alerts_cleared,
    schedule_verify,
    verify,
    verify_sentence,
    verify_window,
)

__all__ = [
    "DEFAULT_POLL_SECONDS",
    "DEFAULT_VERIFY_MINUTES",
    "FINISHED",
    "INTERRUPTED",
    "INTERRUPTED_RUNS",
    "MAX_ATTEMPTS_PER_CARD",
    "STALE_RUN_AFTER",
    "UNEXPECTED",
    "UNEXPECTED_HINT",
    "NotAllowed",
    "action_key",
    "alerts_cleared",
    "approve",
    "cancel",
    "maintenance",
    "prepare",
    "recover_interrupted",
    "role_refusal",
    "run",
    "runs_dry",
    "schedule_verify",
    "verify",
    "verify_sentence",
    "verify_window",
]
