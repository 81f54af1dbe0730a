"""Test doubles for the Fetcher: a clock whose sleep only records, canned sites, a fetcher on them."""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from crawlers.fetcher import Fetcher, Politeness

NEWS = "https://news.example.vn"
MB = 1_000_000
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
Reply = Callable[[httpx.Request], httpx.Response]
ROBOTS = f"{NEWS}/robots.txt"


class Clock:
    """A monotonic clock that moves only when the fetcher sleeps on it (``frozen``: never)."""

    def __init__(self, frozen: bool = False) -> None:
        self.now = 1000.0
        self.frozen = frozen
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the wait and let that much time pass at once."""
        with self._lock:
            self.waits.append(seconds)
            if not self.frozen:
                self.now += seconds


def reply(status: int = 200, body: bytes = b"", **headers: str) -> Reply:
    """A fresh canned response per request; header names use underscores for dashes."""
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return lambda request: httpx.Response(status, headers=named, content=body)


class Site:
    """A MockTransport handler: answers by full URL (a list is answered in turn, its last one
    repeated), 404 for anything else (robots.txt included); every request recorded."""

    def __init__(self, routes: dict[str, Reply | list[Reply]]) -> None:
        self.routes = {
            url: answer if isinstance(answer, list) else [answer] for url, answer in routes.items()
        }
        self.requests: list[httpx.Request] = []
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url.copy_with(query=None))
        with self._lock:
            self.requests.append(request)
            self.hits[url] += 1
            answers = self.routes.get(url)
            if not answers:
                return httpx.Response(404)
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(request)


def public_dns(host: str, port: int) -> list[str]:
    """Every name is a public address; nothing is looked up."""
    return ["93.184.216.34"]


def fetcher(
    handler: Callable[[httpx.Request], httpx.Response],
    clock: Clock | None = None,
    resolve: Callable[[str, int], Sequence[str]] = public_dns,
    **policy: Any,
) -> Fetcher:
    """A fetcher over a MockTransport, no delay between requests unless asked, fixed jitter."""
    clock = clock or Clock()
    client = httpx.Client(transport=httpx.MockTransport(handler))
    politeness = Politeness(**{"min_delay": 0.0, **policy})
    # rng just under 1: the largest jitter the fetcher can add, so its bound is what is tested.
    return Fetcher(
        client, politeness, sleep=clock.sleep, clock=clock, resolve=resolve, rng=lambda: 0.999
    )
