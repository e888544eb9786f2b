"""Decide: playbooks (YAML files), the conditions under which they apply, and ranked suggestions.

Templates are Jinja2 rendered in a sandbox with StrictUndefined: a playbook whose templates need
something the incident does not have (no suspect, no catalog field) simply does not apply.

The package is split by concern; every public name is re-exported here, so callers keep importing
from ``bot.domain.playbooks``:

- errors: PlaybookError, NotApplicable
- templates: the Jinja2 sandbox (render_template)
- schema: the pydantic models of a playbook file (Playbook, When, Step, ...) and ACTIONS
- loading: parse_playbook, load_playbooks, validate_directory, default_playbooks_dir
- engine: DecisionContext, when_mismatch, resolve_playbook, suggest
"""

from __future__ import annotations

from bot.domain.playbooks.engine import (
    BUTTON_TEXT_MAX,
    DecisionContext,
    ResolvedStep,
    Suggestion,
    resolve_playbook,
    suggest,
    template_context,
    when_mismatch,
)
from bot.domain.playbooks.errors import NotApplicable, PlaybookError
from bot.domain.playbooks.loading import (
    default_playbooks_dir,
    load_playbooks,
    parse_playbook,
    validate_directory,
)
from bot.domain.playbooks.schema import (
    ACTIONS,
    REQUIRED_KEYS,
    RISK_PENALTY,
    ActionName,
    Playbook,
    Requires,
    Risk,
    Role,
    Step,
    SuspectCondition,
    TemplateStr,
    Verify,
    When,
)
from bot.domain.playbooks.templates import render_template

__all__ = [
    "ACTIONS",
    "BUTTON_TEXT_MAX",
    "REQUIRED_KEYS",
    "RISK_PENALTY",
    "ActionName",
    "DecisionContext",
    "NotApplicable",
    "Playbook",
    "PlaybookError",
    "Requires",
    "ResolvedStep",
    "Risk",
    "Role",
    "Step",
    "Suggestion",
    "SuspectCondition",
    "TemplateStr",
    "Verify",
    "When",
    "default_playbooks_dir",
    "load_playbooks",
    "parse_playbook",
    "render_template",
    "resolve_playbook",
    "suggest",
    "template_context",
    "validate_directory",
    "when_mismatch",
]
