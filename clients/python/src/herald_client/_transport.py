"""The HTTP exchange under every call: the credential, the envelope unwrapped, errors
typed, and retries.

Retried: a 429 or a 503, after its ``Retry-After`` (any call: Herald did nothing with
it); a connection that failed or timed out, only where doing the call twice is
harmless (reads, PUT and DELETE, and sends, which carry a ``request_id``)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from herald_client.errors import HeraldError, Unreachable, error_for

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# The longest Retry-After honoured before giving the error to the caller.
LONGEST_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class Answer:
    data: Any
    meta: dict[str, Any] | None
    message: str


class Transport:
    def __init__(
        self,
        base_url: str,
        credential: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._retries = retries
        self._backoff = backoff
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {credential}"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r})"  # never the credential

    async def close(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        repeatable: bool | None = None,
    ) -> Answer:
        """``repeatable``: whether a call whose connection failed may be made again
        (by default: a read, PUT or DELETE)."""
        if repeatable is None:
            repeatable = method in ("GET", "PUT", "DELETE")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(method, path, json=json, params=query)
            except httpx.TransportError as exc:
                if not repeatable or attempt > self._retries:
                    raise Unreachable(f"{method} {path}: {exc!r}") from exc
                await asyncio.sleep(self._pause(attempt))
                continue
            if response.status_code in (429, 503) and attempt <= self._retries:
                wait = _retry_after(response)
                if wait is None or wait <= LONGEST_WAIT:
                    await asyncio.sleep(self._pause(attempt) if wait is None else wait)
                    continue
            return _answer(response)

    async def lines(self, path: str, *, headers: dict[str, str]) -> AsyncIterator[str]:
        """The lines of an answer that stays open (an event stream), as they arrive.
        Herald writes to a quiet stream every 15 s: a minute without a byte is a lost
        connection, raised as ``Unreachable``."""
        try:
            async with self._http.stream(
                "GET", path, headers=headers, timeout=httpx.Timeout(60.0, connect=5.0)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _answer(response)  # raises the error Herald gave
                async for line in response.aiter_lines():
                    yield line
        except httpx.TransportError as exc:
            raise Unreachable(f"GET {path}: {exc!r}") from exc

    def _pause(self, attempt: int) -> float:
        return self._backoff * 2.0 ** (attempt - 1) * (0.5 + random.random() / 2)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        seconds = float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
    return max(0.0, seconds)


def _answer(response: httpx.Response) -> Answer:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "success" not in body:
        raise HeraldError(
            response.status_code, f"the answer is not Herald's envelope: {response.text[:200]}"
        )
    if response.status_code >= 400:
        raise error_for(
            response.status_code,
            str(body.get("error") or response.reason_phrase),
            _retry_after(response),
        )
    return Answer(body.get("data"), body.get("meta"), str(body.get("message", "")))
