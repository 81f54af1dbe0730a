"""The shared Fetcher's guard and limits: private addresses refused for submitted URLs, no more
than ``per_host`` requests at a host, compressed bodies unpacked, conditional GET.

Nothing waits in real time (tests/fetchkit.py); HTTP is an ``httpx.MockTransport`` or a real
server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import brotli
import httpx
import pytest

from crawlers.base import Validators
from crawlers.errors import (
    BlockedTargetError,
    PermanentSourceError,
)
from crawlers.fetcher import Fetcher, Politeness
from tests.conftest import FeedServer
from tests.fetchkit import (
    LOOPBACK,
    NEWS,
    ROBOTS,
    Clock,
    Site,
    fetcher,
    public_dns,
    reply,
)

# --- the SSRF guard for submitted URLs ------------------------------------------------------------


def no_dns(host: str, port: int) -> list[str]:
    """Names that the test did not expect to be looked up."""
    raise socket.gaierror(f"{host} not expected to be looked up")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.0.0.1/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[fc00::1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://[::ffff:127.0.0.1]/",  # IPv4 inside IPv6, each way
        "http://[64:ff9b::a00:1]/",
        "http://[2002:a00:1::]/",
        "http://[::127.0.0.1]/",  # deprecated IPv4-compatible, SIIT, local-use NAT64
        "http://[::ffff:0:7f00:1]/",
        "http://[64:ff9b:1::7f00:1]/",
        "http://intranet.example.vn/",
    ],
)
def test_a_guarded_url_to_a_private_address_is_blocked(url: str) -> None:
    site = Site({})

    def dns(host: str, port: int) -> list[str]:
        return {"intranet.example.vn": ["93.184.216.34", "192.168.1.5"]}[host]

    with pytest.raises(BlockedTargetError, match="not a public address"):
        fetcher(site, resolve=dns).get(url, guard=True)

    assert site.requests == []


def test_a_numeric_host_in_another_spelling_is_blocked() -> None:
    def numeric_only(host: str, port: int) -> list[str]:  # the resolver, without DNS
        infos = socket.getaddrinfo(host, port, flags=socket.AI_NUMERICHOST)
        return [str(info[4][0]) for info in infos]

    with pytest.raises(BlockedTargetError):
        fetcher(Site({}), resolve=numeric_only).get("http://2130706433/", guard=True)


def test_a_public_address_passes_the_guard() -> None:
    site = Site({f"{NEWS}/tin/1": reply(200, b"ok")})

    assert fetcher(site, resolve=public_dns).get(f"{NEWS}/tin/1", guard=True).content == b"ok"


def test_a_redirect_to_a_private_address_is_blocked() -> None:
    metadata = "http://169.254.169.254/latest/meta-data/"
    site = Site({f"{NEWS}/go": reply(302, Location=metadata), metadata: reply(200)})

    with pytest.raises(BlockedTargetError):
        fetcher(site).get(f"{NEWS}/go", guard=True)

    assert site.hits[metadata] == 0


def test_robots_txt_of_a_guarded_url_cannot_redirect_to_a_private_address() -> None:
    internal = "http://10.0.0.1/robots.txt"
    site = Site({ROBOTS: reply(302, Location=internal), f"{NEWS}/a": reply(200)})

    assert fetcher(site).get(f"{NEWS}/a", guard=True).status == 200

    assert site.hits[internal] == 0


def test_loopback_is_fetched_when_the_config_allows_it(feed_server: FeedServer) -> None:
    route = feed_server.add("/tin.html", b"<p>ok</p>")
    url = feed_server.url("/tin.html")

    with httpx.Client() as client:
        allowing = Politeness(min_delay=0, allowed_networks=LOOPBACK)
        assert (
            Fetcher(client, allowing, resolve=no_dns).get(url, guard=True).content == b"<p>ok</p>"
        )
        with pytest.raises(BlockedTargetError):
            Fetcher(client, Politeness(min_delay=0), resolve=no_dns).get(url, guard=True)

    assert route.hits == 1


def test_a_name_that_rebinds_to_loopback_is_not_read(feed_server: FeedServer) -> None:
    # The guard's look-up says public; the connection (resolved again) lands on 127.0.0.1.
    route = feed_server.add("/noi-bo.html", b"<p>secret</p>")
    url = f"http://localhost:{feed_server.httpd.server_port}/noi-bo.html"

    with httpx.Client() as client, pytest.raises(BlockedTargetError, match="connected to 127"):
        Fetcher(client, Politeness(min_delay=0, robots=False), resolve=public_dns).get(
            url, guard=True
        )

    assert route.hits <= 1  # the request may reach it; nothing it answers is read


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.vn/x", "gopher://x/"])
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(PermanentSourceError, match="only http"):
        fetcher(Site({})).get(url, guard=True)


# --- per-host concurrency and spacing -------------------------------------------------------------


class GatedServer:
    """A server on 127.0.0.1 whose answers wait for ``gate``; it counts requests in flight."""

    def __init__(self, gate: threading.Event) -> None:
        self.in_flight = self.most = 0
        self.two_waiting = threading.Event()
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                with lock:
                    server.in_flight += 1
                    server.most = max(server.most, server.in_flight)
                    if server.in_flight >= 2:
                        server.two_waiting.set()
                gate.wait(10)
                with lock:
                    server.in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def gated() -> Iterator[tuple[threading.Event, GatedServer, GatedServer]]:
    """A gate, a busy host behind it and another host that answers at once."""
    gate, open_gate = threading.Event(), threading.Event()
    open_gate.set()
    busy, other = GatedServer(gate), GatedServer(open_gate)
    yield gate, busy, other
    gate.set()
    busy.close()
    other.close()


def test_no_more_than_per_host_requests_at_one_host(
    gated: tuple[threading.Event, GatedServer, GatedServer], client: httpx.Client
) -> None:
    gate, busy, other = gated
    clock = Clock(frozen=True)  # every request asks at once; the spacing is all in the waits
    policy = Politeness(per_host=2, min_delay=0.5, robots=False)
    polite = Fetcher(client, policy, sleep=clock.sleep, clock=clock)
    threads = [threading.Thread(target=polite.get, args=(f"{busy.base}/p{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()

    assert busy.two_waiting.wait(10)
    assert polite.get(f"{other.base}/x").content == b"ok"  # while the busy host's two hang
    assert busy.in_flight == 2
    gate.set()
    for thread in threads:
        thread.join(10)

    busy_host, other_host = busy.base.removeprefix("http://"), other.base.removeprefix("http://")
    assert busy.most == 2 and polite.peak_in_flight() == {busy_host: 2, other_host: 1}
    # Eight starts on the busy host half a second apart, the other host's first at once.
    assert sorted(clock.waits) == [0.5 * n for n in range(1, 8)]


# --- content coding and conditional GET -----------------------------------------------------------

BODY = "<p>Tin tức tỉnh Nam Định</p>".encode() * 200


@pytest.mark.parametrize(
    ("coding", "packed"),
    [
        ("gzip", zlib.compress(BODY, wbits=31)),
        ("deflate", zlib.compress(BODY)),
        ("br", brotli.compress(BODY)),
    ],
)
def test_compressed_bodies_are_unpacked(
    feed_server: FeedServer, coding: str, packed: bytes
) -> None:
    route = feed_server.add("/tin.html", packed, Content_Encoding=coding)

    with httpx.Client() as client:
        polite = Fetcher(client, Politeness(min_delay=0, robots=False))
        assert polite.get(feed_server.url("/tin.html")).content == BODY
    assert coding in route.requests[0]["Accept-Encoding"]


LAST = "Tue, 01 Jul 2025 08:00:00 GMT"


def test_conditional_get_sends_the_validators_and_a_304_is_not_modified() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"'})
        return httpx.Response(200, headers={"ETag": '"v1"', "Last-Modified": LAST}, content=b"x")

    polite = fetcher(handler)

    first = polite.get(f"{NEWS}/rss", robots=False)
    again = polite.get(f"{NEWS}/rss", validators=first.validators, robots=False)

    assert first.validators == Validators('"v1"', LAST) and not first.not_modified
    assert again.not_modified and again.content == b""
    assert again.validators == Validators('"v1"', LAST)


def test_if_modified_since_alone_gets_a_304() -> None:
    site = Site({f"{NEWS}/rss": reply(304)})

    result = fetcher(site).get(f"{NEWS}/rss", validators=Validators(None, LAST), robots=False)

    assert result.not_modified and result.validators.last_modified == LAST
    assert site.requests[0].headers["if-modified-since"] == LAST
