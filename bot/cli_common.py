"""What every `ooda` command module shares: the error exit and the settings it reads."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from bot.settings import Settings


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
