"""Manual intake as staff use it: a URL or pasted text becomes an analysed item; a URL pointing
inside the network is refused unless the config allows it (the tests allow loopback explicitly)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from monitor.bootstrap import App
from monitor.cli import cli
from monitor.intake import submit
from monitor.pipeline import crawl_source
from monitor.scheduler import build_scheduler
from monitor.storage.models import CrawlRun, Item
from tests.conftest import AppFactory, FeedServer

ARTICLE = (
    Path(__file__).parent / "fixtures" / "html" / "nam-dinh-windows-1258-meta-only.html"
).read_bytes()
LOOPBACK = {"allowed_networks": ["127.0.0.0/8"]}
PASTED = (
    "Người dân xã Giao Thủy, tỉnh Nam Định phản ánh đê biển bị sạt lở nghiêm trọng sau bão, "
    "nhiều hộ dân phải sơ tán khẩn cấp trong đêm."
)


def _items(app: App) -> list[Item]:
    with app.sessions() as session:
        return list(session.scalars(select(Item).order_by(Item.id)))


def test_a_submitted_url_is_fetched_extracted_and_stored_once(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    route = feed_server.add("/bai-viet.html", ARTICLE, Content_Type="text/html")
    app = make_app([], http=LOOPBACK)

    first = submit(app, url=feed_server.url("/bai-viet.html"), submitted_by="chuyenvien.a")
    again = submit(app, url=feed_server.url("/bai-viet.html"), submitted_by="chuyenvien.b")

    assert first.ok and first.new and first.item is not None
    assert again.ok and not again.new and again.item is not None
    assert again.item.id == first.item.id
    [item] = _items(app)
    assert (item.source_id, item.kind) == ("manual", "manual")
    assert "Nam Định" in item.text and item.meta["submitted_by"] == "chuyenvien.a"
    assert first.item.relevant is True  # analysed like any crawled item
    assert route.hits == 2
    with app.sessions() as session:  # each submission is a run in the audit trail
        runs = session.scalar(select(func.count()).select_from(CrawlRun)) or 0
    assert runs == 2


def test_a_url_pointing_at_loopback_is_refused_by_default(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    route = feed_server.add("/noi-bo.html", ARTICLE, Content_Type="text/html")
    app = make_app([])

    result = submit(app, url=feed_server.url("/noi-bo.html"))

    assert not result.ok and "127.0.0.1" in (result.error or "")
    assert "not a public address" in (result.error or "")
    assert route.hits == 0 and _items(app) == []


def test_pasted_text_is_one_item_however_often_it_is_pasted(make_app: AppFactory) -> None:
    app = make_app([])

    first = submit(app, text=PASTED, kind="social", submitted_by="chuyenvien.a")
    second = submit(app, text=PASTED + "  ", kind="social")

    assert first.ok and first.new and first.item is not None
    assert second.ok and not second.new
    assert first.item.title.startswith("Người dân xã Giao Thủy")
    assert first.item.relevant is True and first.item.severity in ("alert", "critical")
    assert first.item.case_id is not None  # serious enough for a case, as if crawled
    [item] = _items(app)
    assert item.kind == "social" and item.canonical_url.startswith("manual:")


def test_empty_text_and_a_bad_kind_are_refused(make_app: AppFactory) -> None:
    app = make_app([])

    assert submit(app, text="   ").error == "the pasted text is empty"
    assert "kind must be one of" in (submit(app, text=PASTED, kind="tweet").error or "")
    assert _items(app) == []


def test_the_manual_source_is_never_scheduled_or_crawled(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    app = make_app(
        [
            {"id": "vne", "kind": "rss", "url": feed_server.url("/vne.rss")},
            {"id": "nhap-tay", "kind": "manual", "url": "https://stttt.namdinh.gov.vn/"},
        ]
    )

    jobs = [job.id for job in build_scheduler(app).get_jobs()]
    assert jobs == ["crawl:vne"]
    assert crawl_source(app, "nhap-tay").fetched == 0
    result = submit(app, text=PASTED)
    assert result.item is not None and result.item.source_id == "nhap-tay"


def _config(tmp_path: Path, allow_loopback: bool) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    networks = "['127.0.0.0/8']" if allow_loopback else "[]"
    path.write_text(
        "database:\n  url: sqlite:///monitor.db\nanalysis:\n  analyser: keyword\n"
        f"http:\n  min_delay: 0\n  allowed_networks: {networks}\n",
        encoding="utf-8",
    )
    return path


def test_monitor_submit_prints_the_verdict_and_exit_codes(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add("/bai.html", ARTICLE, Content_Type="text/html")
    runner = CliRunner()
    allowed, refused = _config(tmp_path / "a", True), _config(tmp_path / "b", False)

    ok = runner.invoke(cli, ["--config", str(allowed), "submit", feed_server.url("/bai.html")])
    blocked = runner.invoke(cli, ["--config", str(refused), "submit", feed_server.url("/bai.html")])
    usage = runner.invoke(cli, ["--config", str(allowed), "submit"])

    assert ok.exit_code == 0, ok.output
    assert "stored as new item 1" in ok.output and "relevant: yes" in ok.output
    assert blocked.exit_code == 1 and "not a public address" in blocked.output
    assert usage.exit_code == 2


def test_a_feed_listing_a_submitted_article_keeps_the_full_text_and_submitter(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    page = feed_server.url("/bai-viet.html")
    feed = (
        "<rss version='2.0'><channel><title>Báo</title><item><title>Đê biển Giao Thủy</title>"
        f"<link>{page}</link><description>Tóm tắt ngắn.</description></item></channel></rss>"
    ).encode()
    feed_server.add("/tin.rss", feed)
    feed_server.add("/bai-viet.html", ARTICLE, Content_Type="text/html")
    app = make_app(
        [{"id": "bao", "kind": "rss", "url": feed_server.url("/tin.rss")}], http=LOOPBACK
    )

    crawl_source(app, "bao")
    submitted = submit(app, url=page, submitted_by="chuyenvien.a")
    again = crawl_source(app, "bao")

    assert submitted.ok and not submitted.new  # the same URL: the same item, now in full
    assert (again.new, again.updated) == (0, 0)
    [item] = _items(app)
    assert len(item.text) > 200 and item.meta["submitted_by"] == "chuyenvien.a"
