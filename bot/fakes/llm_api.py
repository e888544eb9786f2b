"""A loopback stand-in for an OpenAI-compatible chat-completions endpoint (POST
/v1/chat/completions). `answer` decides what it says: a function of the request's messages,
or one of the misbehaviours a real endpoint shows (garbage, an error, a hang)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

Answer = Callable[[list[dict[str, str]]], str]


def facts_as_is(messages: list[dict[str, str]]) -> str:
    """A well-behaved model: the facts joined into one paragraph, citations kept."""
    facts = messages[-1]["content"].split("Facts:\n", 1)[1]
    return " ".join(line.removeprefix("- ") for line in facts.splitlines())


class FakeLlm:
    def __init__(self, answer: Answer | str = facts_as_is) -> None:
        self.answer: Answer | str = answer  # or "garbage", "error", "hang"
        self.requests: list[dict[str, Any]] = []
        self.release = asyncio.Event()  # "hang" answers once this is set (never, in tests)
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
        if self.answer == "garbage":
            return PlainTextResponse("<html>502 upstream</html>")
        if self.answer == "error":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if self.answer == "hang":
            await self.release.wait()
        assert callable(self.answer)
        content = self.answer(body["messages"])
        choice = {"index": 0, "message": {"role": "assistant", "content": content}}
        return JSONResponse({"id": "chatcmpl-1", "object": "chat.completion", "choices": [choice]})
