"""Source health as an administrator meets it: a failing source is disabled with a case, a quiet
one is flagged silent with a case, both show in ``monitor sources health``, and both come back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from typer.testing import CliRunner

from monitor.bootstrap import App
from monitor.cli import cli
from monitor.health import HealthPolicy, next_score, silent_after, usual_gap
from monitor.pipeline import crawl_source, enable_sources
from monitor.storage.db import make_engine
from monitor.storage.models import Case, Source
from tests.conftest import AppFactory, FeedServer

HOURLY_FEED_ITEMS = 8


def _feed(count: int, newest: datetime, gap: timedelta = timedelta(hours=1)) -> bytes:
    """An RSS feed of ``count`` items about the province, one every ``gap``, newest first."""
    items = "".join(
        f"<item><title>Tin Nam Định số {n}</title><link>https://baotinh.vn/tin-{n}.html</link>"
        f"<pubDate>{(newest - n * gap).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate></item>"
        for n in range(count)
    )
    return f"<rss version='2.0'><channel><title>Báo tỉnh</title>{items}</channel></rss>".encode()


def _source(app: App, source_id: str) -> Source:
    with app.sessions() as session:
        source = session.get(Source, source_id)
        assert source is not None
        return source


def _source_cases(app: App, source_id: str) -> list[Case]:
    with app.sessions() as session:
        cases = list(
            session.scalars(select(Case).where(Case.kind == "source", Case.source_id == source_id))
        )
        for case in cases:
            _ = case.events  # loaded while the session is open
        return cases


def _age_last_new_item(app: App, source_id: str, by: timedelta) -> None:
    """What a quiet stretch leaves behind: the last new item came ``by`` ago."""
    with app.sessions.begin() as session:
        session.execute(
            update(Source)
            .where(Source.id == source_id)
            .values(last_new_item_at=datetime.now(UTC) - by)
        )


def _clear_backoff(app: App, source_id: str) -> None:
    with app.sessions.begin() as session:
        session.execute(update(Source).where(Source.id == source_id).values(backoff_until=None))


def test_four_permanent_failures_disable_the_source_and_open_one_case(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    route = feed_server.add("/gone.rss", b"gone", status=410)
    app = make_app([{"id": "gone", "kind": "rss", "url": feed_server.url("/gone.rss")}])

    reports = [crawl_source(app, "gone", force=True) for _ in range(4)]

    assert [r.health for r in reports] == [None, None, None, "disabled"]
    source = _source(app, "gone")
    assert source.health == "disabled" and source.failure_score >= 3.0
    assert "HTTP 410" in (source.health_reason or "")
    [case] = _source_cases(app, "gone")
    assert case.status == "new" and case.severity == "alert"
    assert case.title == "Nguồn “gone” đã bị tạm dừng vì lỗi liên tục"

    _clear_backoff(app, "gone")
    hits = route.hits
    skipped = crawl_source(app, "gone")
    assert skipped.status == "disabled" and route.hits == hits  # not fetched any more


def test_transient_failures_weigh_less_than_permanent_ones(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add("/busy.rss", b"busy", status=502)
    app = make_app([{"id": "busy", "kind": "rss", "url": feed_server.url("/busy.rss")}])

    for _ in range(4):
        crawl_source(app, "busy", force=True)

    source = _source(app, "busy")
    assert source.health == "active" and 0 < source.failure_score < 3.0
    assert _source_cases(app, "busy") == []


def test_enabling_resets_the_score_and_resolves_the_case(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    route = feed_server.add("/flaky.rss", b"", status=404)
    app = make_app([{"id": "flaky", "kind": "rss", "url": feed_server.url("/flaky.rss")}])
    for _ in range(4):
        crawl_source(app, "flaky", force=True)
    assert _source(app, "flaky").health == "disabled"

    assert enable_sources(app, ["flaky"], actor="admin") == {"flaky"}
    route.status, route.body = 200, _feed(3, datetime.now(UTC))
    report = crawl_source(app, "flaky")

    assert report.status == "ok" and report.new == 3
    source = _source(app, "flaky")
    assert (source.health, source.failure_score) == ("active", 0.0)
    [case] = _source_cases(app, "flaky")
    assert case.status == "resolved" and case.events[-1].actor == "admin"


def test_a_source_quiet_for_five_usual_gaps_is_silent_until_it_brings_news(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    newest = datetime.now(UTC) - timedelta(days=3)
    route = feed_server.add("/quiet.rss", _feed(HOURLY_FEED_ITEMS, newest))
    app = make_app([{"id": "quiet", "kind": "rss", "url": feed_server.url("/quiet.rss")}])
    assert crawl_source(app, "quiet").new == HOURLY_FEED_ITEMS

    _age_last_new_item(app, "quiet", timedelta(hours=11))  # under silent_min (12 h): not yet
    assert crawl_source(app, "quiet").health is None
    _age_last_new_item(app, "quiet", timedelta(days=2))
    silent = crawl_source(app, "quiet")

    assert silent.health == "silent"
    assert "không có tin mới trong 2 ngày" in (silent.health_reason or "")
    assert "thường cứ 60 phút có một tin" in (silent.health_reason or "")
    [case] = _source_cases(app, "quiet")
    assert case.status == "new" and "im lặng" in case.title

    route.body = _feed(HOURLY_FEED_ITEMS + 1, datetime.now(UTC))  # one more, newer item
    back = crawl_source(app, "quiet")
    assert (back.new, back.health) == (1, "active")
    assert _source_cases(app, "quiet")[0].status == "resolved"


def test_sources_health_shows_a_disabled_and_a_silent_source(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add("/down.rss", b"", status=404)
    feed_server.add("/quiet.rss", _feed(HOURLY_FEED_ITEMS, datetime.now(UTC) - timedelta(days=3)))
    feed_server.add("/fine.rss", _feed(2, datetime.now(UTC)))
    config = tmp_path / "config.yaml"
    config.write_text(
        "database:\n  url: sqlite:///monitor.db\nanalysis:\n  analyser: keyword\n"
        "http:\n  min_delay: 0\nsources:\n"
        f"  - {{id: down, kind: rss, url: '{feed_server.url('/down.rss')}'}}\n"
        f"  - {{id: quiet, kind: rss, url: '{feed_server.url('/quiet.rss')}'}}\n"
        f"  - {{id: fine, kind: rss, url: '{feed_server.url('/fine.rss')}'}}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    for _ in range(4):
        runner.invoke(cli, ["--config", str(config), "crawl", "--once", "--force"])
    engine = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    with engine.begin() as conn:
        conn.execute(
            update(Source)
            .where(Source.id == "quiet")
            .values(last_new_item_at=datetime.now(UTC) - timedelta(days=2))
        )
    engine.dispose()
    runner.invoke(cli, ["--config", str(config), "crawl", "--once", "-s", "quiet"])

    result = runner.invoke(cli, ["--config", str(config), "sources", "health"])

    assert result.exit_code == 0, result.output
    rows: dict[str, str] = {}
    key = ""
    for line in (line for line in result.output.splitlines() if "│" in line):
        key = line.split("│")[1].strip() or key  # a wrapped cell continues the row above
        rows[key] = rows.get(key, "") + " ".join(c.strip() for c in line.split("│")) + " "
    words = {key: set(row.split()) for key, row in rows.items()}  # wrapped cells keep their words
    assert {"disabled", "HTTP", "404"} <= words["down"]
    assert {"silent", "không", "tin", "mới", "ngày"} <= words["quiet"]
    assert "active" in words["fine"]


def test_the_usual_gap_needs_history_and_silence_has_a_floor() -> None:
    policy = HealthPolicy()
    start = datetime(2025, 7, 1, tzinfo=UTC)
    hourly = [start + timedelta(hours=n) for n in range(6)]

    assert usual_gap(hourly[:4], policy) is None  # under min_history
    assert usual_gap(hourly, policy) == timedelta(hours=1)
    assert silent_after(timedelta(minutes=2), policy) == timedelta(hours=12)
    assert silent_after(timedelta(days=1), policy) == timedelta(days=5)
    assert next_score(2.0, "ok", policy) == 1.6
    assert next_score(1.0, "hard", policy) == 1.9
    flapping = 0.0
    for outcome in ["hard", "ok"] * 8:  # a permanent error every other run still adds up
        flapping = next_score(flapping, outcome, policy)
    assert flapping * policy.decay + policy.hard_weight >= policy.disable_at
    undated = [start + timedelta(microseconds=n) for n in range(20)]  # one batch, no dates
    assert usual_gap(undated, policy) is None


def test_an_enabled_silent_source_is_not_flagged_again_at_once(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add("/quiet.rss", _feed(HOURLY_FEED_ITEMS, datetime.now(UTC) - timedelta(days=3)))
    app = make_app([{"id": "quiet", "kind": "rss", "url": feed_server.url("/quiet.rss")}])
    crawl_source(app, "quiet")
    _age_last_new_item(app, "quiet", timedelta(days=2))
    assert crawl_source(app, "quiet").health == "silent"

    enable_sources(app, ["quiet"], actor="admin")
    after = crawl_source(app, "quiet")

    assert after.health is None and _source(app, "quiet").health == "active"
    assert [c.status for c in _source_cases(app, "quiet")] == ["resolved"]
