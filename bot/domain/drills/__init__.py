"""Drills: scenario files (`schema`, `loading`), the drill's world at a moment (`world`: alerts
and changes as the bot's sources would report them) and the scorecard (`scoring`)."""

from bot.domain.drills.loading import (
    DrillError,
    default_drills_dir,
    load_scenarios,
    parse_scenario,
    scan,
    unknown_playbooks,
)
from bot.domain.drills.schema import Scenario
from bot.domain.drills.world import DrillClock

__all__ = [
    "DrillClock",
    "DrillError",
    "Scenario",
    "default_drills_dir",
    "load_scenarios",
    "parse_scenario",
    "scan",
    "unknown_playbooks",
]
