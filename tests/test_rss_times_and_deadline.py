"""Feed dates written without a zone are read in the source's time zone, and a response that
drips in too slowly is given up on at its deadline.

No test waits: the slow server is an ``httpx.MockTransport`` whose body stream moves a fake
monotonic clock forward at each chunk."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

import crawlers.http
from crawlers.base import RunState, SourceSpec
from crawlers.errors import TransientSourceError
from crawlers.fetcher import Fetcher, Politeness
from crawlers.rss import RssAdapter, parse_feed

HANOI = "Asia/Ho_Chi_Minh"
FEED_URL = "https://baotinh.example.vn/rss"
EIGHT_IN_HANOI = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)  # 08:00 at UTC+7


def _feed(date: str, tag: str = "pubDate") -> bytes:
    """An RSS 2.0 document with one item dated ``date`` in element ``tag``."""
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Tin</title>"
        f"<item><title>Một</title><link>https://x.vn/1</link><{tag}>{date}</{tag}></item>"
        "</channel></rss>"
    ).encode()


def _published(date: str, timezone: str = HANOI, tag: str = "pubDate") -> datetime | None:
    [item] = parse_feed(_feed(date, tag), FEED_URL, timezone=timezone).items
    return item.published_at


# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "tag"),
    [
        ("2025-07-01T08:00:00", "dc:date"),
        ("2025-07-01T08:00:00", "pubDate"),
        ("Tue, 01 Jul 2025 08:00:00", "pubDate"),
    ],
    ids=["iso-dc-date", "iso-pubdate", "rfc822"],
)
def test_a_date_without_a_zone_is_local_time(date: str, tag: str) -> None:
    assert _published(date, tag=tag) == EIGHT_IN_HANOI


def test_a_date_without_a_zone_stays_utc_by_default() -> None:
    [item] = parse_feed(_feed("2025-07-01T08:00:00"), FEED_URL).items
    assert item.published_at == datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("timezone", ["UTC", HANOI, "America/New_York"])
@pytest.mark.parametrize(
    "date", ["Tue, 01 Jul 2025 08:00:00 +0700", "2025-07-01T08:00:00+07:00"], ids=["rfc822", "iso"]
)
def test_a_date_with_an_offset_ignores_the_timezone(date: str, timezone: str) -> None:
    assert _published(date, timezone) == EIGHT_IN_HANOI


@pytest.mark.parametrize(
    "date",
    ["2025-07-01T08:00:00Z", "Tue, 01 Jul 2025 08:00:00 GMT", "Tue, 01 Jul 2025 08:00:00 -0000"],
)
def test_a_date_in_utc_stays_utc(date: str) -> None:
    assert _published(date) == datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("date", ["garbage", "hôm qua", "31/02/2025 25:61", "0001-01-01T00:00:00"])
def test_an_unreadable_or_implausible_date_is_none(date: str) -> None:
    result = parse_feed(_feed(date), FEED_URL, timezone=HANOI)
    assert [item.published_at for item in result.items] == [None]


def test_updated_is_used_when_there_is_no_published_date() -> None:
    body = (
        "<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>Tin</title>"
        "<entry><title>Một</title><link href='https://x.vn/1'/>"
        "<updated>2025-07-01T08:00:00</updated></entry></feed>"
    ).encode()
    [item] = parse_feed(body, FEED_URL, timezone=HANOI).items
    assert item.published_at == EIGHT_IN_HANOI


def test_the_adapter_reads_dates_in_the_sources_timezone() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_feed("Tue, 01 Jul 2025 08:00:00"))

    spec = SourceSpec("tinh", FEED_URL, timezone=HANOI)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        collected = RssAdapter().collect(_fetcher(client), spec, RunState())

    assert [item.published_at for item in collected.items] == [EIGHT_IN_HANOI]


def _fetcher(client: httpx.Client, deadline: float | None = 120.0) -> Fetcher:
    # These handlers answer every path alike, robots.txt included: robots are not what is tested.
    return Fetcher(client, Politeness(robots=False, min_delay=0, deadline=deadline))


# --- the deadline on a whole response -------------------------------------------------------------

SECONDS_PER_CHUNK = 29.0  # each chunk comes just inside a 30 s read timeout
CHUNKS = [b"<rss version='2.0'><channel><title>Tin</title>", b"<item>", b"</item>", b"</channel>"]


class FakeClock:
    """A monotonic clock that moves only when the slow stream below says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class DrippingStream(httpx.SyncByteStream):
    """A body that arrives one chunk every ``SECONDS_PER_CHUNK`` seconds of the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in CHUNKS:
            self.clock.now += SECONDS_PER_CHUNK
            self.sent += 1
            yield chunk


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The fake clock, standing in for ``time.monotonic`` as crawlers.http sees it."""
    fake = FakeClock()
    monkeypatch.setattr(crawlers.http.time, "monotonic", fake)
    return fake


def _dripping_client(clock: FakeClock) -> tuple[httpx.Client, DrippingStream]:
    stream = DrippingStream(clock)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream)

    return httpx.Client(transport=httpx.MockTransport(handler)), stream


def test_a_dripping_response_is_given_up_at_the_deadline(clock: FakeClock) -> None:
    client, stream = _dripping_client(clock)
    with client, pytest.raises(TransientSourceError, match=r"took longer than 60 s") as caught:
        _fetcher(client, deadline=60).get(FEED_URL)

    assert FEED_URL in str(caught.value)
    assert stream.sent == 3  # stopped at the first chunk past 60 s, not at the end of the body


def test_without_a_deadline_the_same_response_is_read_whole(clock: FakeClock) -> None:
    client, _ = _dripping_client(clock)
    with client:
        result = _fetcher(client, deadline=None).get(FEED_URL)

    assert result.content == b"".join(CHUNKS)


def test_a_deadline_the_response_keeps_to_is_no_error(clock: FakeClock) -> None:
    client, _ = _dripping_client(clock)
    with client:
        result = _fetcher(client, deadline=len(CHUNKS) * 30).get(FEED_URL)

    assert result.content == b"".join(CHUNKS)


def test_the_adapter_applies_the_fetchers_total_timeout(clock: FakeClock) -> None:
    client, _ = _dripping_client(clock)
    spec = SourceSpec("tinh", FEED_URL)
    with client, pytest.raises(TransientSourceError, match=r"took longer than 45 s"):
        RssAdapter().collect(_fetcher(client, deadline=45), spec, RunState())
