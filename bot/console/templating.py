"""Jinja2 for the console's pages (autoescaped), and the headers every page is sent with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined
from starlette.responses import HTMLResponse

from bot.domain.model import STAGE_ORDER
from bot.postmortem.chart import STAGE_COLORS
from bot.postmortem.render import FILTERS, PACKAGE_TEMPLATES

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

# Scripts only from the console itself; inline styles for the SVG charts' own <style>.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; form-action 'self'; "
    "base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _environment() -> Environment:
    env = Environment(
        # "postmortem/…": partials shared with the HTML postmortem (the drill scorecard).
        loader=ChoiceLoader(
            [
                FileSystemLoader(str(TEMPLATES)),
                PrefixLoader({"postmortem": FileSystemLoader(str(PACKAGE_TEMPLATES))}),
            ]
        ),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({k: v for k, v in FILTERS.items() if not k.startswith("md_")})
    env.globals.update(
        stages=STAGE_ORDER,
        stage_colors={stage.value: colour for stage, colour in STAGE_COLORS.items()},
    )
    return env


ENV = _environment()


def render(name: str, context: dict[str, Any]) -> str:
    return ENV.get_template(name).render(context)


def page(name: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    return HTMLResponse(render(name, context), status_code=status, headers=HEADERS)
