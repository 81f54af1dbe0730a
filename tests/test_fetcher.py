"""The shared Fetcher as the sites it talks to would notice it: Retry-After honoured, robots.txt
read once and obeyed, a huge body refused early, redirect loops named.

Nothing waits in real time: the fetcher gets a fake clock whose ``sleep`` records the wait and moves
the clock on (tests/fetchkit.py). HTTP is an ``httpx.MockTransport`` or a real server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from crawlers.errors import (
    PermanentSourceError,
    RobotsDisallowedError,
    TransientSourceError,
)
from crawlers.fetcher import Fetcher, Politeness
from monitor.config import HttpSettings
from monitor.pipeline import crawl_source
from monitor.storage import queries
from monitor.storage.models import Source, utcnow
from tests.conftest import VNEXPRESS_FEED, AppFactory, FakeSleep, FeedServer
from tests.fetchkit import (
    MB,
    NEWS,
    ROBOTS,
    Clock,
    Reply,
    Site,
    fetcher,
    reply,
)

# --- 429/503 and Retry-After ----------------------------------------------------------------------


def test_429_with_retry_after_is_retried_once_after_that_wait() -> None:
    clock = Clock()
    site = Site({f"{NEWS}/rss": [reply(429, Retry_After="7"), reply(200, b"<rss/>")]})

    result = fetcher(site, clock).get(f"{NEWS}/rss")

    assert result.status == 200 and result.content == b"<rss/>"
    assert site.hits[f"{NEWS}/rss"] == 2
    [wait] = clock.waits
    assert 7.0 <= wait < 8.5  # plus jitter, so that throttled clients do not all come back at once


def test_503_asking_for_longer_than_max_retry_wait_is_left_to_the_source() -> None:
    clock = Clock()
    site = Site({f"{NEWS}/rss": reply(503, Retry_After="3600")})

    with pytest.raises(TransientSourceError) as caught:
        fetcher(site, clock, max_retry_wait=60).get(f"{NEWS}/rss")

    assert caught.value.retry_after == 3600
    assert clock.waits == [] and site.hits[f"{NEWS}/rss"] == 1


def test_a_long_retry_after_holds_every_source_off_that_host_until_it_passes() -> None:
    clock = Clock()
    site = Site({f"{NEWS}/rss": reply(429, Retry_After="3600"), f"{NEWS}/a.html": reply(200)})
    polite = fetcher(site, clock, max_retry_wait=60, robots=False)
    with pytest.raises(TransientSourceError):
        polite.get(f"{NEWS}/rss")

    clock.now += 600
    with pytest.raises(TransientSourceError, match="Retry-After") as caught:
        polite.get(f"{NEWS}/a.html")  # another source on the same host
    assert caught.value.retry_after == pytest.approx(3000)
    assert site.hits.get(f"{NEWS}/a.html", 0) == 0

    clock.now += 3000
    assert polite.get(f"{NEWS}/a.html").status == 200


def test_429_without_retry_after_backs_off_2_then_4_seconds_then_gives_up() -> None:
    clock = Clock()
    site = Site({f"{NEWS}/rss": reply(429)})

    with pytest.raises(TransientSourceError, match="HTTP 429") as caught:
        fetcher(site, clock, max_retries=2, retry_backoff=2.0).get(f"{NEWS}/rss")

    assert caught.value.retry_after is None
    assert site.hits[f"{NEWS}/rss"] == 3
    first, second = clock.waits
    assert 2.0 <= first < 3.5 and 4.0 <= second < 5.5


def test_retry_after_as_an_http_date() -> None:
    clock = Clock()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    site = Site({f"{NEWS}/rss": [reply(503, Retry_After=when), reply(200, b"ok")]})

    assert fetcher(site, clock).get(f"{NEWS}/rss").content == b"ok"

    [wait] = clock.waits
    assert 28.0 <= wait < 30.0 + 3.5  # jitter grows with the wait: a tenth of it plus 0.5 s


def test_a_throttled_host_is_held_for_other_urls_too() -> None:
    # A frozen clock: the second URL is asked for at the moment the first was told to wait.
    clock = Clock(frozen=True)
    other = "https://other.example.vn/c"
    site = Site(
        {
            f"{NEWS}/a": [reply(429, Retry_After="7"), reply(200)],
            f"{NEWS}/b": reply(200),
            other: reply(200),
        }
    )
    polite = fetcher(site, clock)

    polite.get(f"{NEWS}/a")
    polite.get(f"{NEWS}/b")
    polite.get(other)  # another host is not held

    retry, other_url = clock.waits
    assert 7.0 <= retry < 8.5 and other_url == retry


def test_a_long_retry_after_defers_the_source_in_the_pipeline(
    make_app: AppFactory, feed_server: FeedServer, fake_sleep: FakeSleep
) -> None:
    route = feed_server.add("/busy.rss", b"", status=429, Retry_After="120")
    app = make_app(
        [{"id": "busy", "kind": "rss", "url": feed_server.url("/busy.rss")}],
        http={"max_retries": 1, "max_retry_wait": 60},
    )

    before = utcnow()
    report = crawl_source(app, "busy")
    after = utcnow()

    assert report.status == "error" and route.hits == 1 and fake_sleep.waits == []
    with app.sessions() as session:
        source = session.get(Source, "busy")
    assert source is not None and source.backoff_until is not None
    wait, slack = timedelta(seconds=120), timedelta(seconds=2)
    assert before + wait - slack <= source.backoff_until <= after + wait + slack


def test_a_short_retry_after_is_waited_out_and_the_feed_stored(
    make_app: AppFactory, fake_sleep: FakeSleep
) -> None:
    feed = VNEXPRESS_FEED.read_bytes()
    site = Site({f"{NEWS}/rss": [reply(429, Retry_After="7"), reply(200, feed)]})
    app = make_app(
        [{"id": "vne", "kind": "rss", "url": f"{NEWS}/rss"}],
        transport=httpx.MockTransport(site),
        http={"max_retries": 1},
    )

    report = crawl_source(app, "vne")

    assert report.status == "ok" and report.new == 25
    assert queries.count_items(app.sessions) == 25
    [wait] = fake_sleep.waits
    assert 6.5 <= wait < 8.5  # the real clock moved a little between the 429 and the retry


# --- robots.txt -----------------------------------------------------------------------------------


def test_a_disallowed_path_is_not_fetched_and_an_allowed_one_is() -> None:
    site = Site(
        {
            ROBOTS: reply(200, b"User-agent: *\nDisallow: /private/\n"),
            f"{NEWS}/public/a": reply(200, b"public"),
            f"{NEWS}/private/x": reply(200, b"secret"),
        }
    )
    polite = fetcher(site)

    with pytest.raises(RobotsDisallowedError, match="disallows"):
        polite.get(f"{NEWS}/private/x")
    assert polite.get(f"{NEWS}/public/a").content == b"public"

    assert site.hits[f"{NEWS}/private/x"] == 0


def test_robots_txt_is_fetched_once_per_host_across_many_gets() -> None:
    other = "https://other.example.vn"
    routes: dict[str, Reply | list[Reply]] = {
        f"{base}/p{n}": reply(200) for base in (NEWS, other) for n in range(5)
    }
    site = Site({**routes, ROBOTS: reply(200, b"User-agent: *\nAllow: /\n")})
    polite = fetcher(site)

    for url in routes:
        polite.get(url)

    assert site.hits[ROBOTS] == 1 and site.hits[f"{other}/robots.txt"] == 1


def test_robots_txt_is_fetched_once_by_threads_asking_at_once() -> None:
    pages = [f"{NEWS}/p{n}" for n in range(8)]
    entered, all_in, lock = [0], threading.Event(), threading.Lock()

    def slow_robots(request: httpx.Request) -> httpx.Response:
        all_in.wait(10)  # every thread is inside get() before robots.txt comes back
        return httpx.Response(200, content=b"User-agent: *\nAllow: /\n")

    site = Site({ROBOTS: slow_robots, **{page: reply(200) for page in pages}})
    polite = fetcher(site, per_host=len(pages))

    def get(page: str) -> None:
        with lock:
            entered[0] += 1
            if entered[0] == len(pages):
                all_in.set()
        polite.get(page)

    threads = [threading.Thread(target=get, args=(page,)) for page in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert site.hits[ROBOTS] == 1
    assert all(site.hits[page] == 1 for page in pages)


def test_robots_txt_is_fetched_again_when_its_cache_expires() -> None:
    clock = Clock()
    site = Site({ROBOTS: reply(404), f"{NEWS}/a": reply(200)})
    polite = fetcher(site, clock, robots_ttl=3600)

    polite.get(f"{NEWS}/a")
    clock.now += 3601
    polite.get(f"{NEWS}/a")

    assert site.hits[ROBOTS] == 2


def test_robots_txt_missing_allows_everything() -> None:
    site = Site({ROBOTS: reply(404), f"{NEWS}/private/x": reply(200, b"ok")})

    assert fetcher(site).get(f"{NEWS}/private/x").content == b"ok"


def test_robots_txt_failing_is_transient_and_the_page_is_not_fetched() -> None:
    site = Site({ROBOTS: reply(500), f"{NEWS}/a": reply(200)})

    with pytest.raises(TransientSourceError, match="robots.txt"):
        fetcher(site).get(f"{NEWS}/a")

    assert site.hits[f"{NEWS}/a"] == 0


@pytest.mark.parametrize(("declared", "spacing"), [(5, 5.0), (3600, 60.0)], ids=["5s", "capped"])
def test_crawl_delay_spaces_the_requests_to_the_host(declared: int, spacing: float) -> None:
    clock = Clock()
    robots = f"User-agent: *\nCrawl-delay: {declared}\n".encode()
    site = Site({ROBOTS: reply(200, robots), f"{NEWS}/a": reply(200), f"{NEWS}/b": reply(200)})
    polite = fetcher(site, clock, max_crawl_delay=60.0)

    polite.get(f"{NEWS}/a")  # counted from robots.txt, itself a request to the host
    polite.get(f"{NEWS}/b")

    assert clock.waits == [spacing, spacing]


OUR_GROUP = b"User-agent: *\nDisallow: /\n\nUser-agent: ProvinceMonitor\nDisallow: /private/\n"
# Another robot whose name is in the contact URL of our User-Agent header ("github.com").
GIT_GROUP = b"User-agent: git\nDisallow: /\n\nUser-agent: *\nDisallow: /private/\n"


@pytest.mark.parametrize("robots", [OUR_GROUP, GIT_GROUP], ids=["ours", "not-ours"])
def test_the_group_for_our_user_agent_is_the_one_obeyed(robots: bytes) -> None:
    site = Site({ROBOTS: reply(200, robots), f"{NEWS}/tin/1": reply(200)})
    polite = fetcher(site, user_agent=HttpSettings().user_agent)  # the full header we send

    assert polite.get(f"{NEWS}/tin/1").status == 200
    with pytest.raises(RobotsDisallowedError):
        polite.get(f"{NEWS}/private/1")


def test_robots_false_is_for_apis_and_skips_robots_txt() -> None:
    site = Site({ROBOTS: reply(200, b"User-agent: *\nDisallow: /\n"), f"{NEWS}/api": reply(200)})

    assert fetcher(site).get(f"{NEWS}/api", robots=False).status == 200
    assert site.hits[ROBOTS] == 0


# --- huge bodies ----------------------------------------------------------------------------------


class Endless(httpx.SyncByteStream):
    """``size`` bytes of body made 64 KiB at a time, counting what was taken."""

    def __init__(self, size: int, compress: bool = False) -> None:
        self.size, self.compress, self.sent = size, compress, 0

    def __iter__(self) -> Iterator[bytes]:
        packer = zlib.compressobj(wbits=31) if self.compress else None  # 31: gzip framing
        chunk = bytes(65536)
        for _ in range(self.size // len(chunk)):
            data = packer.compress(chunk) if packer else chunk
            self.sent += len(chunk)
            if data:
                yield data
        if packer:
            yield packer.flush()


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_50_mb_body_is_refused_early_in_little_memory(declared: bool) -> None:
    stream = Endless(50 * MB)
    headers = {"Content-Length": str(stream.size)} if declared else {}
    polite = fetcher(lambda request: httpx.Response(200, headers=headers, stream=stream))

    tracemalloc.start()
    try:
        with pytest.raises(PermanentSourceError, match="over the 10000000-byte cap"):
            polite.get(f"{NEWS}/huge", robots=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stream.sent <= (0 if declared else 10 * MB + 65536)
    assert peak < 20 * MB


def test_a_gzip_bomb_is_refused_by_its_unpacked_size() -> None:
    stream = Endless(50 * MB, compress=True)  # about 50 kB on the wire
    headers = {"Content-Encoding": "gzip"}
    polite = fetcher(lambda request: httpx.Response(200, headers=headers, stream=stream))

    with pytest.raises(PermanentSourceError, match="over the 10000000-byte cap"):
        polite.get(f"{NEWS}/bomb", robots=False)

    assert stream.sent < 50 * MB


def test_a_server_sending_50_mb_is_cut_off() -> None:
    """A real socket, a body without a length that ends when the connection does."""
    sent = [0]

    def serve(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n")
            chunk = bytes(65536)
            try:
                while sent[0] < 50 * MB:
                    conn.sendall(chunk)
                    sent[0] += len(chunk)
            except OSError:  # the client hung up: what it was meant to do
                pass

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        thread.start()
        with httpx.Client() as client, pytest.raises(PermanentSourceError, match="1000000-byte"):
            polite = Fetcher(client, Politeness(min_delay=0, robots=False, max_bytes=MB))
            polite.get(f"http://127.0.0.1:{listener.getsockname()[1]}/big")
        thread.join(10)

    assert sent[0] < 50 * MB


# --- redirects ------------------------------------------------------------------------------------


def test_a_redirect_loop_is_named_after_one_visit_each() -> None:
    site = Site(
        {f"{NEWS}/a": reply(302, Location=f"{NEWS}/b"), f"{NEWS}/b": reply(301, Location="/a")}
    )

    with pytest.raises(PermanentSourceError, match="redirect loop") as caught:
        fetcher(site).get(f"{NEWS}/a", robots=False)

    assert f"{NEWS}/a → {NEWS}/b → {NEWS}/a" in str(caught.value)
    assert site.hits == Counter({f"{NEWS}/a": 1, f"{NEWS}/b": 1})


def test_a_chain_longer_than_max_redirects_is_given_up() -> None:
    site = Site({f"{NEWS}/r{n}": reply(302, Location=f"/r{n + 1}") for n in range(10)})

    with pytest.raises(PermanentSourceError, match=r"too many redirects \(over 3\)"):
        fetcher(site, max_redirects=3).get(f"{NEWS}/r0", robots=False)

    assert sum(site.hits.values()) == 4


def test_a_relative_location_is_resolved_against_the_hop() -> None:
    site = Site(
        {
            f"{NEWS}/tin/old.html": reply(301, Location="../bai/new.html"),
            f"{NEWS}/bai/new.html": reply(200, b"moved"),
        }
    )

    result = fetcher(site).get(f"{NEWS}/tin/old.html", robots=False)

    assert result.url == f"{NEWS}/bai/new.html" and result.content == b"moved"


def test_each_hop_counts_against_its_own_host() -> None:
    site = Site(
        {
            f"{NEWS}/go": reply(302, Location="https://cdn.example.vn/x"),
            "https://cdn.example.vn/x": reply(200),
        }
    )
    polite = fetcher(site)

    polite.get(f"{NEWS}/go")

    assert polite.peak_in_flight() == {"news.example.vn": 1, "cdn.example.vn": 1}
    assert site.hits["https://cdn.example.vn/robots.txt"] == 1  # the target's robots.txt read


def test_credentials_are_not_sent_on_to_another_origin() -> None:
    site = Site(
        {
            f"{NEWS}/api": reply(302, Location=f"{NEWS}/api2"),
            f"{NEWS}/api2": reply(302, Location="https://elsewhere.example/x"),
            "https://elsewhere.example/x": reply(200),
        }
    )

    fetcher(site).get(f"{NEWS}/api", headers={"Authorization": "Bearer s3cret"}, robots=False)

    sent = [r.headers.get("authorization") for r in site.requests]
    assert sent == ["Bearer s3cret", "Bearer s3cret", None]


def test_params_are_added_to_the_query_already_in_the_url() -> None:
    site = Site({f"{NEWS}/api": reply(200)})

    fetcher(site).get(f"{NEWS}/api?fields=id,message", params={"limit": "5"}, robots=False)

    assert site.requests[0].url.params == httpx.QueryParams({"fields": "id,message", "limit": "5"})
