"""The playbook exceptions: PlaybookError (one line per problem) and NotApplicable."""

from __future__ import annotations


class PlaybookError(Exception):
    """A playbook problem: "file: field.path: what is wrong" (one line per problem)."""

    def __init__(self, errors: str | list[str]) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


class NotApplicable(PlaybookError):
    """The playbook does not apply to this incident (its `when` or its templates say so)."""
