"""The optional LLM rewrite of the drafted postmortem, against a loopback chat-completions
endpoint: used when it keeps the facts and citations, dropped on any error, timeout or an
answer that changes them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.fakes.llm_api import FakeLlm, facts_as_is
from bot.fakes.server import LoopbackServer
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.draft import draft
from bot.postmortem.render import cite_time, render_postmortem
from bot.postmortem.rewrite import SECTIONS, acceptable, rewrite
from integrations.llm import ChatClient


@pytest.fixture
def llm() -> Iterator[tuple[FakeLlm, str]]:
    fake = FakeLlm()
    with LoopbackServer(fake.app) as server:
        yield fake, f"{server.url}/v1"


async def rewritten(doc: PostmortemDoc, url: str, *, timeout: float = 10.0) -> str:
    client = ChatClient(url, "fake-model", api_key="sk-test", timeout=timeout)
    try:
        drafted = await rewrite(draft(doc), client, cite_time(doc))
    finally:
        await client.aclose()
    return render_postmortem(doc, drafted=drafted)


def section(md: str, name: str) -> str:
    return md.split(f"## {name}\n\n", 1)[1].split("\n## ", 1)[0]


async def test_a_faithful_answer_replaces_the_draft_and_keeps_its_citations(
    doc: PostmortemDoc, llm: tuple[FakeLlm, str]
) -> None:
    fake, url = llm
    fake.answer = lambda messages: "In short: " + facts_as_is(messages)
    md = await rewritten(doc, url)
    impact = section(md, "Impact")
    assert impact.startswith("In short: Alerts fired for 22m")
    assert "10:00:00" in impact and "10:41:00" in impact  # its citations, as the facts had them
    asked = {r["body"]["messages"][-1]["content"].split("\n", 1)[0] for r in fake.requests}
    assert asked == {"Section: Summary", "Section: Impact", "Section: Root cause",
                     "Section: Resolution"}  # fmt: skip
    assert all(r["authorization"] == "Bearer sk-test" for r in fake.requests)
    assert fake.requests[0]["body"]["model"] == "fake-model"


@pytest.mark.parametrize("answer", ["garbage", "error"])
async def test_garbage_or_an_error_keeps_the_draft(
    doc: PostmortemDoc, llm: tuple[FakeLlm, str], answer: str
) -> None:
    fake, url = llm
    fake.answer = answer
    assert await rewritten(doc, url) == render_postmortem(doc)


async def test_a_hanging_endpoint_keeps_the_draft_after_its_deadline(
    doc: PostmortemDoc, llm: tuple[FakeLlm, str]
) -> None:
    fake, url = llm
    fake.answer = "hang"
    assert await rewritten(doc, url, timeout=0.3) == render_postmortem(doc)


async def test_an_unreachable_endpoint_keeps_the_draft(doc: PostmortemDoc) -> None:
    assert await rewritten(doc, "http://127.0.0.1:9/v1") == render_postmortem(doc)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (lambda m: facts_as_is(m).replace("[", "(").replace("]", ")"), "citations dropped"),
        (lambda m: facts_as_is(m) + " Revenue loss was 40000 dollars.", "a number it made up"),
        (lambda m: facts_as_is(m) + " [09:00:00]", "a citation it made up"),
        (lambda m: "", "nothing"),
    ],
)
async def test_an_answer_that_changes_the_facts_is_dropped(
    doc: PostmortemDoc, llm: tuple[FakeLlm, str], answer: object, why: str
) -> None:
    fake, url = llm
    fake.answer = answer  # type: ignore[assignment]
    md = await rewritten(doc, url)
    assert section(md, "Impact") == section(render_postmortem(doc), "Impact"), why


def test_acceptable_is_strict_about_citations_and_numbers() -> None:
    facts, cites = "- Alerts fired for 22m. [10:00:00]", ["[10:00:00]"]
    assert acceptable("The alerts fired for 22m [10:00:00].", facts, cites)
    assert not acceptable("The alerts fired for 23m [10:00:00].", facts, cites)
    assert not acceptable("The alerts fired for 22m.", facts, cites)
    assert SECTIONS == ("summary", "impact", "root_cause", "resolution")
