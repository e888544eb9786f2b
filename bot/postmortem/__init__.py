"""Postmortem generation: gather an incident into a PostmortemDoc, render it to Markdown or HTML."""

from bot.postmortem.document import Participant, PostmortemDoc
from bot.postmortem.render import get_environment, render_postmortem

__all__ = ["Participant", "PostmortemDoc", "get_environment", "render_postmortem"]
