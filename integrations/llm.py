"""An OpenAI-compatible chat-completions client (a hosted API, a local Ollama or vLLM):
one request, one deadline, the answer's text or an LlmError."""

from __future__ import annotations

from typing import Any

import httpx


class LlmError(Exception):
    """No usable answer: the endpoint failed, timed out or sent something unexpected."""


class ChatClient:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(headers=headers, timeout=timeout, transport=transport)

    async def complete(self, messages: list[dict[str, str]]) -> str:
        body = {"model": self.model, "messages": messages, "temperature": 0}
        try:
            response = await self._http.post(f"{self.base_url}/chat/completions", json=body)
        except httpx.HTTPError as exc:  # the message names no header: the key stays out of logs
            raise LlmError(f"{type(exc).__name__} calling the LLM endpoint") from exc
        if response.status_code != 200:
            raise LlmError(f"LLM endpoint answered HTTP {response.status_code}")
        try:
            payload: Any = response.json()
            content = payload["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LlmError("LLM answer is not a chat completion") from exc
        if not isinstance(content, str) or not content.strip():
            raise LlmError("LLM answer is empty")
        return content.strip()

    async def aclose(self) -> None:
        await self._http.aclose()
