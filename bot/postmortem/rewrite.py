"""The drafted sections rewritten into prose by an LLM (OODA_LLM_URL), from the same facts only.

Off unless configured. A section's answer is kept only if it keeps every citation of its
facts, cites nothing else and states no number the facts do not hold; anything else (an error,
a timeout, a garbled or inventive answer) keeps the deterministic draft for that section.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable
from datetime import datetime

from bot.postmortem.draft import Draft, Sentence
from integrations.llm import ChatClient, LlmError

log = logging.getLogger(__name__)

SECTIONS = ("summary", "impact", "root_cause", "resolution")
MAX_ANSWER = 2000
SYSTEM = (
    "You rewrite the facts of an incident postmortem section into one short, plain paragraph. "
    "Use only the facts given: add no facts, names, numbers or causes. Keep every citation in "
    "square brackets exactly as written, right after the sentence it supports, and add no other "
    "square brackets. Answer with the paragraph only."
)
_CITE = re.compile(r"\[[^\[\]]*\]")
_NUMBER = re.compile(r"\d+(?:[.:]\d+)*")


def _facts(sentences: list[Sentence], when: Callable[[datetime], str]) -> tuple[str, list[str]]:
    lines, cites = [], []
    for s in sentences:
        cite = f"[{', '.join(when(c) for c in s.cites)}]" if s.cites else ""
        cites += [cite] if cite else []
        lines.append(f"- {s.text} {cite}".rstrip())
    return "\n".join(lines), cites


def acceptable(answer: str, facts: str, cites: list[str]) -> bool:
    """Keeps every citation, adds none, and states no number absent from the facts."""
    if not answer or len(answer) > MAX_ANSWER or "\n\n" in answer.strip():
        return False
    if any(c not in answer for c in cites):
        return False
    if any(c not in cites for c in _CITE.findall(answer)):
        return False
    known = set(_NUMBER.findall(facts))
    return all(n in known for n in _NUMBER.findall(answer))


async def _section(
    client: ChatClient, name: str, sentences: list[Sentence], when: Callable[[datetime], str]
) -> list[Sentence]:
    if not sentences:
        return sentences
    facts, cites = _facts(sentences, when)
    title = name.replace("_", " ").capitalize()
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Section: {title}\nFacts:\n{facts}"},
    ]
    try:
        answer = await asyncio.wait_for(client.complete(messages), client.timeout)
    except (LlmError, TimeoutError) as exc:
        log.warning("postmortem %s: LLM rewrite not used (%s)", name, exc or "timeout")
        return sentences
    if not acceptable(answer, facts, cites):
        log.warning("postmortem %s: LLM answer dropped: it changed the facts or citations", name)
        return sentences
    return [Sentence(answer.strip())]  # its citations are in the text, as the facts had them


async def rewrite(draft: Draft, client: ChatClient, when: Callable[[datetime], str]) -> Draft:
    """Each section rewritten (concurrently) or, where that fails, as drafted.
    `when` formats a citation's time as the Timeline section shows it."""
    results = await asyncio.gather(
        *(_section(client, name, getattr(draft, name), when) for name in SECTIONS)
    )
    return dataclasses.replace(draft, **dict(zip(SECTIONS, results, strict=True)))
