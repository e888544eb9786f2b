"""The action-run state machine: the statuses a playbook run goes through and the moves allowed."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Stored as its value in `action_runs.status`; compares equal to that string."""

    AWAITING_APPROVAL = "awaiting_approval"  # stored when someone picks the action
    QUEUED = "queued"  # approved: an action.run job will run it
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a step failed, an unexpected error, or the bot restarted mid-run
    DRY_RUN = "dry_run"  # every step was only described, nothing changed
    CANCELLED = "cancelled"  # withdrawn before approval, or the incident resolved first

    def can_move_to(self, target: RunStatus) -> bool:
        return target in TRANSITIONS[self]

    @property
    def finished(self) -> bool:
        """Nothing follows: picking the same card again starts a new attempt."""
        return not TRANSITIONS[self]


TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    # An approval that still needs another approver keeps the run awaiting approval.
    RunStatus.AWAITING_APPROVAL: frozenset(
        {RunStatus.AWAITING_APPROVAL, RunStatus.QUEUED, RunStatus.CANCELLED}
    ),
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.DRY_RUN}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.DRY_RUN: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}

FINISHED = frozenset(status for status in RunStatus if status.finished)


class IllegalRunTransition(ValueError):
    """A run was asked to move to a status its current status does not lead to."""


def check_transition(current: str, target: RunStatus) -> str:
    """The value to store for `target` if a run in `current` may move there.

    Raises IllegalRunTransition if it may not (or `current` is no RunStatus)."""
    try:
        source = RunStatus(current)
    except ValueError:
        raise IllegalRunTransition(
            f"action run has unknown status {current!r}; cannot move it to {target.value!r}"
        ) from None
    if not source.can_move_to(target):
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[source])) or "nothing (finished)"
        raise IllegalRunTransition(
            f"action run cannot move from {source.value!r} to {target.value!r}; "
            f"from {source.value!r} it may move to {allowed}"
        )
    return target.value
