"""One polite way to fetch for every adapter: robots.txt, per-host limits, retries, redirects, SSRF.

Adapters never call httpx themselves; they ask a shared ``Fetcher``, so the limits hold across all
sources that happen to live on one host, whichever thread runs them. Threads, not asyncio: the
scheduler, storage (SQLAlchemy sessions) and the analyser are synchronous, and a crawl is bounded by
the scheduler's worker pool globally and by the per-host slots here.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from crawlers.base import Validators
from crawlers.errors import (
    BlockedTargetError,
    PermanentSourceError,
    RobotsDisallowedError,
    TransientSourceError,
)
from crawlers.http import FetchResult, check_status, parse_retry_after, read_capped

logger = logging.getLogger(__name__)
_RETRY_STATUS = frozenset({429, 503})
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
_NO_VALIDATORS = Validators()
# Not sent on to another origin when a redirect leads there (httpx drops the first three the
# same way); X-Goog-Api-Key carries the YouTube adapter's key, X-Api-Key is the usual name for
# one elsewhere.
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "cookie", "proxy-authorization", "x-goog-api-key", "x-api-key"}
)
# IPv6 prefixes that carry an IPv4 address a gateway may forward to (NAT64, RFC 6052).
# IPv6 ranges whose last 32 bits are an IPv4 address: NAT64 (well-known and local-use), the
# deprecated IPv4-compatible ::a.b.c.d, and SIIT's ::ffff:0:a.b.c.d.
_CARRIES_IPV4 = tuple(
    ipaddress.ip_network(net)
    for net in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96", "::ffff:0:0:0/96")
)


@dataclass(frozen=True, slots=True)
class Politeness:
    """How the fetcher treats the hosts it talks to."""

    user_agent: str = "ProvinceMonitor"
    per_host: int = 2  # requests in flight to one host at once
    min_delay: float = 1.0  # seconds between the starts of two requests to one host
    max_retries: int = 2  # extra tries after a 429/503
    max_retry_wait: float = 60.0  # a longer Retry-After is left to the source's own backoff
    retry_backoff: float = 2.0  # first wait when a 429/503 says nothing about when to retry
    robots: bool = True
    robots_ttl: float = 86_400.0
    max_crawl_delay: float = 60.0  # a robots.txt Crawl-delay above this is capped
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    deadline: float | None = 120.0  # seconds for a whole response, however slowly it arrives
    # Networks a guarded (staff-submitted) URL may point into although they are not public.
    allowed_networks: tuple[Network, ...] = ()


@dataclass
class _Host:
    slots: threading.BoundedSemaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_start: float = 0.0
    last_start: float | None = None
    delay: float = 0.0
    hold_until: float = 0.0  # a Retry-After too long to wait for: no request before this

    def slow_down(self, delay: float) -> None:
        """Space the starts ``delay`` apart from now on, counting from the last start."""
        with self.lock:
            self.delay = delay
            if self.last_start is not None:
                self.next_start = max(self.next_start, self.last_start + delay)


@dataclass(frozen=True, slots=True)
class _Robots:
    rules: Protego | None  # None: no robots.txt, everything allowed
    expires: float


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


class Fetcher:
    """GETs URLs politely and safely; raises Transient/PermanentSourceError on failure."""

    def __init__(
        self,
        client: httpx.Client,
        policy: Politeness = Politeness(),
        *,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        resolve: Resolver = _resolve,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.policy = policy
        self._sleep, self._clock, self._resolve, self._rng = sleep, clock, resolve, rng
        self._hosts: dict[str, _Host] = {}
        self._robots: dict[str, _Robots] = {}
        self._robots_loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.in_flight_peak: dict[str, int] = {}  # per host, for benchmarks and tests
        self._in_flight: dict[str, int] = {}

    def get(
        self,
        url: str,
        *,
        validators: Validators = _NO_VALIDATORS,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        robots: bool = True,
        guard: bool = False,
        raise_for_status: bool = True,
        max_bytes: int | None = None,
    ) -> FetchResult:
        """GET ``url`` following redirects; a 304 comes back as ``not_modified``.

        ``robots=False`` is for official APIs, which robots.txt does not govern. ``guard=True``
        refuses targets that are not public addresses (a URL a person typed in). With
        ``raise_for_status=False`` an error status comes back with its body (API error payloads).
        """
        if params:  # merged: a query already in the URL is kept
            url = str(httpx.URL(url).copy_merge_params(dict(params)))
        seen = [url]
        while True:
            result = self._get_hop(
                url, validators, headers, robots, guard, raise_for_status, max_bytes
            )
            if result.status not in _REDIRECT_STATUS:
                return result
            url = self._next_hop(seen, result)
            if headers and _origin(url) != _origin(seen[0]):
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}

    def _next_hop(self, seen: list[str], result: FetchResult) -> str:
        location = result.headers.get("location")
        if not location:
            raise PermanentSourceError(f"redirect without a Location from {result.url}")
        target = urljoin(result.url, location.strip())
        if target in seen:
            chain = " → ".join([*seen[seen.index(target) :], target])
            raise PermanentSourceError(f"redirect loop: {chain}")
        if len(seen) > self.policy.max_redirects:
            raise PermanentSourceError(
                f"too many redirects (over {self.policy.max_redirects}) fetching {seen[0]}"
            )
        seen.append(target)
        return target

    def _get_hop(
        self,
        url: str,
        validators: Validators,
        headers: Mapping[str, str] | None,
        robots: bool,
        guard: bool,
        raise_for_status: bool,
        max_bytes: int | None,
    ) -> FetchResult:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentSourceError(f"cannot fetch {url}: only http(s) URLs with a host")
        if guard:
            self._check_target(url, parts.hostname, parts.port)
        self._check_hold(url)
        if robots and self.policy.robots and not self._allowed(url, guard):
            raise RobotsDisallowedError(f"robots.txt of {parts.hostname} disallows {url}")
        request_headers = dict(headers or {})
        if validators.etag:
            request_headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            request_headers["If-Modified-Since"] = validators.last_modified
        cap = max_bytes or self.policy.max_bytes
        for attempt in range(self.policy.max_retries + 1):
            result = self._request(url, request_headers, cap, validators, guard)
            if result.status not in _RETRY_STATUS:
                break
            wait = self._retry_wait(result, attempt)
            if wait is None:
                self._hold_host(url, result)
                break
            logger.info("%s answered %d; retrying in %.1f s", url, result.status, wait)
            self._defer_host(url, wait)
        if raise_for_status and result.status >= 400:
            check_status(result.status, result.url, result.headers)
        return result

    def _retry_wait(self, result: FetchResult, attempt: int) -> float | None:
        """Seconds to wait before retrying a 429/503, or None to give up and report it."""
        if attempt >= self.policy.max_retries:
            return None
        told = parse_retry_after(result.headers.get("retry-after"))
        wait = told if told is not None else self.policy.retry_backoff * 2.0**attempt
        if wait > self.policy.max_retry_wait:
            return None
        return wait + self._rng() * min(wait * 0.1 + 0.5, 5.0)  # jitter: not all at once

    def _request(
        self,
        url: str,
        headers: Mapping[str, str],
        max_bytes: int,
        validators: Validators,
        guard: bool = False,
    ) -> FetchResult:
        host = self._slot(url)
        try:
            return self._send(url, headers, max_bytes, validators, guard)
        finally:
            self._release(url, host)

    def _send(
        self,
        url: str,
        headers: Mapping[str, str],
        max_bytes: int,
        validators: Validators,
        guard: bool = False,
    ) -> FetchResult:
        started = time.monotonic()
        try:
            with self.client.stream("GET", url, headers=headers, follow_redirects=False) as resp:
                if guard:
                    self._check_peer(url, resp)
                if resp.status_code == 304:
                    return FetchResult(
                        str(resp.url),
                        304,
                        b"",
                        None,
                        _validators(resp, validators),
                        True,
                        headers=dict(resp.headers),
                    )
                if resp.status_code in _REDIRECT_STATUS or resp.status_code in _RETRY_STATUS:
                    content = b""  # not read: a redirect or a throttle carries nothing we want
                else:
                    content = read_capped(resp, max_bytes, self.policy.deadline, started)
                return FetchResult(
                    str(resp.url),
                    resp.status_code,
                    content,
                    resp.headers.get("content-type"),
                    _validators(resp, Validators()),
                    headers=dict(resp.headers),
                )
        except httpx.TimeoutException as exc:
            raise TransientSourceError(f"timed out fetching {url}: {type(exc).__name__}") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentSourceError(f"cannot fetch {url}: {exc}") from exc
        except httpx.DecodingError as exc:  # not a TransportError: a corrupt gzip/deflate body
            raise TransientSourceError(f"cannot decompress the body from {url}: {exc}") from exc
        except httpx.TransportError as exc:
            raise TransientSourceError(
                f"network error fetching {url}: {exc or type(exc).__name__}"
            ) from exc

    # -- per-host politeness ---------------------------------------------------------------

    def _host(self, url: str) -> tuple[str, _Host]:
        key = urlsplit(url).netloc.lower()
        with self._lock:
            host = self._hosts.get(key)
            if host is None:
                host = _Host(threading.BoundedSemaphore(self.policy.per_host))
                host.delay = self.policy.min_delay
                self._hosts[key] = host
            return key, host

    def _slot(self, url: str) -> _Host:
        key, host = self._host(url)
        host.slots.acquire()
        with host.lock:
            now = self._clock()
            start = max(now, host.next_start)
            host.next_start = start + host.delay
            host.last_start = start
        if start > now:
            try:
                self._sleep(start - now)
            except BaseException:  # interrupted: the slot must not be lost for good
                host.slots.release()
                raise
        with self._lock:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self.in_flight_peak[key] = max(self.in_flight_peak.get(key, 0), self._in_flight[key])
        return host

    def _release(self, url: str, host: _Host) -> None:
        key = urlsplit(url).netloc.lower()
        with self._lock:
            self._in_flight[key] -= 1
        host.slots.release()

    def _hold_host(self, url: str, result: FetchResult) -> None:
        """A Retry-After too long to wait for holds every source off this host until it passes."""
        told = parse_retry_after(result.headers.get("retry-after"))
        if told is None:
            return
        _, host = self._host(url)
        with host.lock:
            host.hold_until = max(host.hold_until, self._clock() + told)

    def _check_hold(self, url: str) -> None:
        key, host = self._host(url)
        remaining = host.hold_until - self._clock()
        if remaining > 0:
            raise TransientSourceError(
                f"{key} asked for a pause (Retry-After) of {remaining:.0f} s more; "
                f"not fetching {url} until then",
                retry_after=remaining,
            )

    def _defer_host(self, url: str, seconds: float) -> None:
        """Hold every request to this host (from any source) for ``seconds``."""
        _, host = self._host(url)
        with host.lock:
            host.next_start = max(host.next_start, self._clock() + seconds)

    # -- robots.txt -------------------------------------------------------------------------

    def _allowed(self, url: str, guard: bool) -> bool:
        origin = _origin(url)
        rules = self._cached_robots(origin)
        if rules is None:
            with self._lock:
                loading = self._robots_loading.setdefault(origin, threading.Lock())
            # One thread fetches a host's robots.txt; the others wait for it and read the cache.
            with loading:
                rules = self._cached_robots(origin)
                if rules is None:
                    rules = self._load_robots(origin, guard)
                    with self._lock:
                        self._robots[origin] = rules
        if rules.rules is None:
            return True
        return bool(rules.rules.can_fetch(url, self._robot_name))

    @property
    def _robot_name(self) -> str:
        # RFC 9309 matches the product token; the whole header would let "User-agent: git"
        # match the "github.com" in our contact URL.
        token = self.policy.user_agent.split("/", 1)[0].strip()
        return token.split()[0] if token else self.policy.user_agent

    def _cached_robots(self, origin: str) -> _Robots | None:
        with self._lock:
            cached = self._robots.get(origin)
        return cached if cached is not None and cached.expires >= self._clock() else None

    def _load_robots(self, origin: str, guard: bool) -> _Robots:
        """Fetch and parse a host's robots.txt (RFC 9309: 4xx allows all, 5xx is retried later)."""
        expires = self._clock() + self.policy.robots_ttl
        robots_url = f"{origin}/robots.txt"
        try:
            # Guarded like the URL it is for: its redirects must not reach a private address.
            result = self.get(
                robots_url, robots=False, guard=guard, max_bytes=500_000, raise_for_status=False
            )
        except PermanentSourceError:
            return _Robots(None, expires)  # redirected away, loops, too big: treat as absent
        if result.status >= 500 or result.status in _RETRY_STATUS:
            raise TransientSourceError(
                f"robots.txt of {origin} answered HTTP {result.status}; trying the host later"
            )
        if result.status >= 400:
            return _Robots(None, expires)
        rules = Protego.parse(result.content.decode("utf-8", "replace"))
        crawl_delay = rules.crawl_delay(self._robot_name)
        if crawl_delay:
            _, host = self._host(origin)
            host.slow_down(
                max(self.policy.min_delay, min(crawl_delay, self.policy.max_crawl_delay))
            )
        return _Robots(rules, expires)

    # -- SSRF guard -------------------------------------------------------------------------

    def _check_target(self, url: str, hostname: str, port: int | None) -> None:
        """Refuse a URL whose host resolves to a loopback, private, link-local or reserved address."""
        try:
            addresses = [str(ipaddress.ip_address(hostname))]  # a literal needs no look-up
        except ValueError:
            try:
                addresses = list(self._resolve(hostname, port or 443))
            except OSError as exc:
                raise TransientSourceError(f"cannot resolve {hostname}: {exc}") from exc
        if not addresses:
            raise TransientSourceError(f"cannot resolve {hostname}: no address")
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if _public(ip):
                continue
            if any(ip in network for network in self.policy.allowed_networks):
                continue
            raise BlockedTargetError(
                f"{url} points to {ip}, which is not a public address; "
                "only http.allowed_networks may be fetched that way"
            )

    def _check_peer(self, url: str, response: httpx.Response) -> None:
        """Check the address actually connected to: DNS may answer differently the second time
        (rebinding), so nothing is read from a private peer even if the look-up said public."""
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if not peer:
            return  # no socket (a test transport): the look-up check stands alone
        ip = ipaddress.ip_address(str(peer[0]).split("%")[0])
        if not _public(ip) and not any(ip in net for net in self.policy.allowed_networks):
            raise BlockedTargetError(
                f"{url} connected to {ip}, which is not a public address; nothing was read"
            )

    def peak_in_flight(self) -> dict[str, int]:
        """The most requests that were ever in flight at once, per host."""
        with self._lock:
            return dict(self.in_flight_peak)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address, also counting an IPv4 address an IPv6 one carries."""
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if carried is None and any(ip in net for net in _CARRIES_IPV4):
            carried = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if carried is not None:
            return _public(carried)
    return True


def _validators(response: httpx.Response, previous: Validators) -> Validators:
    return Validators(
        etag=response.headers.get("etag") or previous.etag,
        last_modified=response.headers.get("last-modified") or previous.last_modified,
    )
