"""POST JSON to a model API with retries: 429 and 5xx (and connection failures) back off and try again.

A server's `retry-after-ms` / `retry-after` (seconds or an HTTP date) is respected;
otherwise the delay doubles from `base_delay` with jitter, capped at `max_delay`.
Other 4xx answers fail at once with the API's own error text.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from autolab_mcp.core.errors import AutolabError

log = logging.getLogger("autolab.agents.http")

RETRY_STATUS = {408, 409, 429} | set(range(500, 600))
MAX_SERVER_WAIT = 300.0  # a retry-after longer than this is capped


class APIError(AutolabError):
    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, if it said."""
    headers = response.headers
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RetryStats:
    def __init__(self) -> None:
        self.retries = 0
        self.waited = 0.0
        self.statuses: list[int | str] = []


async def post_json(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str], *, max_retries: int = 6,
    base_delay: float = 1.0, max_delay: float = 60.0, stats: RetryStats | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep, notify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    attempt = 0
    while True:
        problem: str
        wait: float | None = None
        try:
            response = await http.post(url, json=body, headers=headers)
        except httpx.TransportError as exc:  # connection refused/reset, timeouts
            problem, status = f"{type(exc).__name__}: {exc}", "transport"
        else:
            if response.status_code < 300:
                try:
                    return response.json()
                except ValueError as exc:
                    raise APIError(f"{url}: the answer is not JSON: {response.text[:300]}",
                                   response.status_code, response.text) from exc
            text = response.text
            if response.status_code not in RETRY_STATUS:
                raise APIError(f"{url} answered {response.status_code}: {text[:2000]}", response.status_code, text)
            problem, status = f"HTTP {response.status_code}: {text[:300]}", response.status_code
            wait = retry_after(response)
        if attempt >= max_retries:
            raise APIError(f"{url}: giving up after {attempt + 1} attempts; last: {problem}",
                           None if status == "transport" else int(status))
        if wait is None:
            wait = min(max_delay, base_delay * 2 ** attempt) * (0.5 + random.random() / 2)
        else:
            wait = min(wait, MAX_SERVER_WAIT)
        attempt += 1
        if stats is not None:
            stats.retries += 1
            stats.waited += wait
            stats.statuses.append(status)
        message = f"model API {problem}; retry {attempt}/{max_retries} in {wait:.1f}s"
        if notify is not None:
            notify(message)
        else:
            log.warning("%s", message)
        await sleep(wait)
