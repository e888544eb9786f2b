"""`/incident drill [name] [service]`: list the scenarios, or start one as a drill incident."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.service import drills
from bot.service.runtime import Runtime
from bot.slack.listen import interactions
from bot.slack.out.text import from_slack, render

Reply = Callable[..., Awaitable[Any]]


async def drill(rt: Runtime, rest: str, body: dict[str, Any], respond: Reply) -> None:
    command = rt.settings.slash_command
    name, _, service = from_slack(rest).strip().partition(" ")
    name, service = name.strip().lower(), service.strip()
    if not name:
        found, problems = drills.scenarios(rt)
        text = render("drill_usage", command=command, scenarios=found, problems=problems)
        await respond(response_type="ephemeral", text=text)
        return
    scenario, problems = drills.find(rt, name)
    if scenario is None:
        found, _ = drills.scenarios(rt)
        text = render("drill_unknown", scenario_name=name) + "\n"
        text += render("drill_usage", command=command, scenarios=found, problems=problems)
        await respond(response_type="ephemeral", text=text)
        return
    own = {s.name for s in scenario.services}  # the scenario's catalog plays anywhere
    if service and rt.config.service(service) is None and service not in own:
        known = [s.name for s in rt.config.services]
        text = render(
            "drill_unknown_service",
            service=service,
            scenario_name=name,
            default=scenario.service,
            known=known or ["(the catalog is empty)"],
        )
        await respond(response_type="ephemeral", text=text)
        return
    on = service or scenario.service
    speed = rt.settings.drill_speed
    key = f"slack:{interactions.interaction_key(body)}"
    number = await drills.start(
        rt, scenario, by=body.get("user_id"), service=on, speed=speed, key=key
    )
    text = render("drill_started", scenario=scenario, number=number, service=on)
    await respond(response_type="ephemeral", text=text)
