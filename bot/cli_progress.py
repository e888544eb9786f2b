"""Progress for long `ooda` commands: a bar on stderr when it is a terminal, nothing when piped
or redirected (a script reading stdout, a CI log), so output stays what the command prints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# (done, total): called as each unit of work finishes.
Advance = Callable[[int, int], None]


def stderr_console() -> Console:
    return Console(stderr=True)


@contextmanager
def progress(label: str, console: Console | None = None) -> Iterator[Advance]:
    """`with progress("exporting") as advance: ... advance(done, total)`."""
    console = console or stderr_console()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,  # the bar goes away; the command's own summary stays
        disable=not console.is_terminal,
    )
    task = bar.add_task(label, total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield advance
