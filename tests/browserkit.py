"""The real-browser tests' kit: a seeded monitor served on 127.0.0.1, Debian's Chromium driven by
Playwright, signing in through the login form, and the screenshots in docs/.

The site is built the way ``monitor run`` builds it: ``build_app`` on a SQLite file (with a sleep
that never sleeps), items stored through the pipeline's ``store_collected`` and analysed by the
shipped models (so the search index, stories and cases are the real ones), users made with
``monitor.accounts.add_user``, and ``create_web`` served by uvicorn from a thread.

Playwright cannot download its own browser here, so it drives Debian's ``chromium`` package
(``/usr/bin/chromium``, installed by ``.ci/run`` when missing). Make the documentation's
screenshots again with::

    .venv/bin/python -m tests.browserkit screenshots
"""

from __future__ import annotations

import io
import random
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import update

from crawlers.base import Collected, ItemRecord
from monitor import accounts, surges
from monitor.bootstrap import App, build_app
from monitor.pipeline import RunReport, store_collected
from monitor.storage import db, queries, repo
from monitor.storage.models import Item
from monitor.web.app import create_web, serve_in_thread, stop
from tests.conftest import FakeSleep, make_settings
from tests.webkit import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright, ViewportSize

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHROMIUM = Path("/usr/bin/chromium")
# --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start;
# --disable-dev-shm-usage: containers give /dev/shm 64 MB, too little for a renderer.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
ANALYST = "chuyenvien.lan"
VIEWER = "lanhdao.minh"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
SOURCES = [
    {"id": "baonamdinh", "kind": "rss", "url": "https://baonamdinh.vn/rss/xa-hoi.rss",
     "name": "Báo Nam Định"},
    {"id": "vnexpress", "kind": "rss", "url": "https://vnexpress.net/rss/thoi-su.rss",
     "name": "VnExpress Thời sự"},
    {"id": "voz", "kind": "forum", "url": "https://voz.vn/f/diem-bao.33/",
     "name": "voz.vn Điểm báo"},
]  # fmt: skip
SCRIPT_TITLE = '<script>alert("xss")</script> Ngập úng kéo dài ở Ý Yên, Nam Định'


@dataclass(frozen=True)
class Article:
    """One seeded item: where it was published, how long ago, and what it says."""

    key: str
    source: str
    url: str
    title: str
    text: str
    hours_ago: float
    kind: str = "news"


ARTICLES = [
    Article(
        "dyke",
        "baonamdinh",
        "https://baonamdinh.vn/xa-hoi/sat-lo-de-bien-giao-thuy-2025.html",
        "Sạt lở đê biển ở Giao Thủy, Nam Định",
        "Người dân xã Giao Thủy, tỉnh Nam Định phản ánh đê biển bị sạt lở nghiêm trọng sau bão, "
        "nhiều hộ dân phải sơ tán khẩn cấp trong đêm. Đoạn đê dài khoảng 200 mét bị nước biển "
        "xâm thực, đe dọa an toàn của hàng trăm hộ dân ven biển huyện Giao Thủy.",
        2,
    ),
    Article(
        "market",
        "vnexpress",
        "https://vnexpress.net/chay-cho-hai-hau-nam-dinh-4800001.html",
        "Cháy lớn thiêu rụi hàng chục ki-ốt ở chợ thị trấn Yên Định, Hải Hậu",
        "Rạng sáng nay, một vụ cháy lớn bùng phát tại chợ thị trấn Yên Định, huyện Hải Hậu, tỉnh "
        "Nam Định, thiêu rụi hàng chục ki-ốt cùng nhiều hàng hóa của tiểu thương. Lực lượng cảnh "
        "sát phòng cháy chữa cháy đã được điều động tới hiện trường, thiệt hại ước tính hàng tỷ "
        "đồng. Nguyên nhân vụ cháy đang được điều tra.",
        5,
    ),
    Article(
        "flood",
        "voz",
        "https://voz.vn/t/ngap-ung-y-yen-nam-dinh.1000001/",
        SCRIPT_TITLE,
        "Mưa lớn kéo dài khiến nhiều xã ở huyện Ý Yên, tỉnh Nam Định ngập úng nghiêm trọng, "
        "hàng trăm héc-ta lúa bị ngập, người dân bức xúc vì trạm bơm không hoạt động. "
        '<img src=x onerror=alert("xss")> Bà con phản ánh chính quyền chậm ứng phó.',
        8,
        "forum",
    ),
    Article(
        "festival",
        "baonamdinh",
        "https://baonamdinh.vn/van-hoa/le-hoi-phu-day-2025.html",
        "Lễ hội Phủ Dầy thu hút hàng vạn du khách về Nam Định",
        "Lễ hội Phủ Dầy năm nay diễn ra trang trọng tại xã Kim Thái, huyện Vụ Bản, tỉnh Nam Định, "
        "thu hút hàng vạn lượt du khách thập phương. Công tác tổ chức, đảm bảo an ninh trật tự "
        "được thực hiện tốt, nhận được sự đánh giá cao của người dân.",
        11,
    ),
    Article(
        "bridge",
        "vnexpress",
        "https://vnexpress.net/nam-dinh-khoi-cong-cau-tan-phong-4800002.html",
        "Nam Định khởi công xây dựng cầu Tân Phong vượt sông Ninh Cơ",
        "Sáng nay, UBND tỉnh Nam Định tổ chức lễ khởi công xây dựng cầu Tân Phong bắc qua sông "
        "Ninh Cơ, nối huyện Hải Hậu với huyện Nghĩa Hưng. Công trình có tổng mức đầu tư hơn 500 "
        "tỷ đồng, dự kiến hoàn thành trong năm 2026, góp phần phát triển kinh tế vùng ven biển.",
        14,
    ),
    Article(
        "harvest",
        "baonamdinh",
        "https://baonamdinh.vn/kinh-te/nong-dan-hai-hau-trung-mua-2025.html",
        "Nông dân Hải Hậu được mùa lúa đặc sản",
        "Vụ mùa năm nay, nông dân huyện Hải Hậu, tỉnh Nam Định thu hoạch lúa đặc sản với năng "
        "suất cao, giá bán ổn định. Nhiều hợp tác xã đã liên kết bao tiêu sản phẩm cho bà con.",
        18,
    ),
]


# Plainer earlier days, so the overview's 30-day charts and top topics and places have a past:
# (title, text) with {place}; stored as first seen on that day, in no story and with no case.
EARLIER = [
    ("Nông dân {place} thu hoạch lúa xuân đạt năng suất cao",
     "Nông dân {place}, tỉnh Nam Định thu hoạch lúa xuân, năng suất ước đạt 70 tạ/ha, giá ổn định."),
    ("Tai nạn giao thông trên quốc lộ qua {place}, một người bị thương",
     "Một vụ va chạm giữa xe tải và xe máy trên quốc lộ qua {place}, tỉnh Nam Định khiến một "
     "người bị thương nặng, công an đang điều tra nguyên nhân."),
    ("Người dân {place} phản ánh ô nhiễm từ bãi rác",
     "Người dân {place}, tỉnh Nam Định bức xúc vì bãi rác gây ô nhiễm, mùi hôi nồng nặc, "
     "nước thải chảy ra kênh tưới tiêu."),
    ("Khánh thành trường mầm non mới tại {place}",
     "Trường mầm non mới tại {place}, tỉnh Nam Định được khánh thành, đáp ứng nhu cầu học tập "
     "của hàng trăm cháu nhỏ."),
    ("{place} đẩy mạnh cải cách thủ tục hành chính",
     "UBND {place}, tỉnh Nam Định triển khai dịch vụ công trực tuyến, rút ngắn thời gian giải "
     "quyết hồ sơ cho người dân và doanh nghiệp."),
]  # fmt: skip
PLACES = ["huyện Hải Hậu", "huyện Giao Thủy", "huyện Nghĩa Hưng", "huyện Ý Yên",
          "huyện Xuân Trường", "huyện Vụ Bản", "thành phố Nam Định"]  # fmt: skip


@dataclass(frozen=True)
class Seeded:
    """What the seeding stored: item ids by article key and the cases the flows act on."""

    items: dict[str, int]
    cases: dict[str, int]

    @property
    def ack_case(self) -> int:
        """The case the analyst acknowledges (the dyke breach)."""
        return self.cases["dyke"]

    @property
    def viewer_case(self) -> int:
        """The case the viewer tries to act on (the market fire); nobody acts on it."""
        return self.cases["market"]


@dataclass(frozen=True)
class Site:
    """A served, seeded monitor."""

    url: str
    app: App
    seeded: Seeded

    def at(self, path: str) -> str:
        """The full URL of a path on the site."""
        return self.url + path


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return (
            f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium "
            "chromium-driver; .ci/run installs it, so CI runs these tests)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


def build_site_app(database: Path) -> App:
    """The monitor on a SQLite file, built through the composition root."""
    settings = make_settings(f"sqlite:///{database}", SOURCES)
    return build_app(settings, sleep=FakeSleep())


def _store(app: App, source_id: str, records: list[ItemRecord]) -> None:
    """Store one source's items as a crawl run does: ingest, analyse, stories and cases."""
    with db.transaction(app.sessions) as session:
        run_id = repo.start_run(session, source_id)
    report = RunReport(source_id, "running", fetched=len(records))
    store_collected(app, run_id, source_id, Collected(records), report)


def earlier_days(app: App, now: datetime, days: int = 29) -> int:
    """Store a few plainer items on each of the ``days`` before today, dated that day and counted
    for the charts as the pipeline counts them (no story, no case); returns how many."""
    stored = 0
    for back in range(days, 0, -1):
        at = now - timedelta(days=back)
        records = []
        pick = random.Random(back)  # the same days every run, without a visible period
        for n in range(pick.randint(2, 7)):
            title, text = pick.choice(EARLIER)
            place = pick.choice(PLACES)
            url = f"https://baonamdinh.vn/tin/{at:%Y-%m-%d}-{n}.html"
            published = at - timedelta(hours=n + 1)
            record = ItemRecord(url, url, title.format(place=place), text.format(place=place),
                                published_at=published, language="vi")  # fmt: skip
            records.append(record)
        with db.transaction(app.sessions) as session:
            new = repo.ingest(session, "baonamdinh", records).new
            analysed = [(i, app.analyser.analyse(r.title, r.text, r.kind)) for i, r in new]
            repo.save_analyses(session, analysed)
            ids = {item_id for item_id, _ in new}
            session.execute(update(Item).where(Item.id.in_(ids)).values(fetched_at=at))
            surges.count_analysed(session, app.settings, analysed, ids)
        stored += len(new)
    return stored


def seed(app: App, now: datetime | None = None) -> Seeded:
    """Store earlier days and today's articles through the pipeline; add an analyst and a viewer."""
    now = now or datetime.now(UTC)
    earlier_days(app, now)
    for source in dict.fromkeys(a.source for a in ARTICLES):
        records = [
            ItemRecord(a.url, a.url, a.title, a.text, a.kind,
                       published_at=now - timedelta(hours=a.hours_ago), language="vi")
            for a in ARTICLES
            if a.source == source
        ]  # fmt: skip
        _store(app, source, records)
    items, cases = {}, {}
    for article in ARTICLES:
        detail = queries.item_detail(app.sessions, article.url)
        if detail is None:
            raise RuntimeError(f"{article.key} was not stored")
        items[article.key] = detail.id
        if detail.case_id is not None:
            cases[article.key] = detail.case_id
    if missing := {"dyke", "market", "flood"} - cases.keys():
        raise RuntimeError(f"the analyser opened no case for {sorted(missing)}")
    accounts.add_user(app.sessions, ANALYST, "analyst", PASSWORD)
    accounts.add_user(app.sessions, VIEWER, "viewer", PASSWORD)
    return Seeded(items, cases)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve(app: App, ready_within: float = 30.0) -> Iterator[str]:
    """Serve the dashboard on 127.0.0.1 from a thread; yields its base URL once /healthz is ok."""
    port = _free_port()
    server, thread = serve_in_thread(create_web(app), "127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, thread, ready_within)
        yield url
    finally:
        stop(server, thread)


def _wait_ready(url: str, thread: threading.Thread, within: float) -> None:
    """Poll /healthz until it answers 200; fail at once if the server's thread ended."""
    deadline = time.monotonic() + within
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            thread.join(0.05)  # a short poll interval, and it notices a dead server
            if not thread.is_alive():
                raise RuntimeError(f"the web server on {url} stopped before it was ready")
    raise RuntimeError(f"the web server on {url} was not ready within {within} s")


@contextmanager
def site(directory: Path) -> Iterator[Site]:
    """A seeded monitor on a SQLite file in ``directory``, served until the block ends."""
    app = build_site_app(directory / "monitor.db")
    try:
        seeded = seed(app)
        with serve(app) as url:
            yield Site(url, app, seeded)
    finally:
        app.close()


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, started by Playwright."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def sign_in(page: Page, site: Site, name: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person does; ends on the overview."""
    page.goto(site.at("/login"))
    page.locator("input[name=name]").fill(name)
    page.locator("input[name=password]").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(site.at("/"))


def small_png(png: bytes, colours: int = 128) -> bytes:
    """A screenshot as a palette PNG: the same picture of a text page at a fraction of the size."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colours, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


@dataclass(frozen=True)
class Shot:
    """One screenshot for the docs: a page at a window size, whole or only the first screen."""

    name: str
    path: str
    viewport: ViewportSize
    full_page: bool = True


def shots(seeded: Seeded) -> list[Shot]:
    """The documentation's screenshots: the overview and the case queue (the README's), a case,
    a search, and the case queue on a phone."""
    return [
        Shot("overview", "/", DESKTOP),
        Shot("cases", "/cases", DESKTOP),
        Shot("case", f"/cases/{seeded.ack_case}", DESKTOP),
        Shot("search", "/search?q=nam+dinh", DESKTOP, full_page=False),
        Shot("cases-phone", "/cases", PHONE, full_page=False),
    ]


def screenshots(out: Path = DOCS) -> list[Path]:
    """Sign in as the analyst and save each of ``shots`` as a small PNG in ``out``."""
    import tempfile

    from playwright.sync_api import sync_playwright

    written = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        site(Path(tmp)) as served,
        sync_playwright() as playwright,
    ):
        browser = launch(playwright)
        for shot in shots(served.seeded):
            context = browser.new_context(viewport=shot.viewport, locale="vi-VN")
            page = context.new_page()
            sign_in(page, served, ANALYST)
            page.goto(served.at(shot.path))
            target = out / f"{shot.name}.png"
            target.write_bytes(small_png(page.screenshot(full_page=shot.full_page)))
            written.append(target)
            context.close()
        browser.close()
    return written


def main(argv: list[str]) -> int:
    """``python -m tests.browserkit screenshots``: make the docs' screenshots (docs/*.png)."""
    if argv != ["screenshots"]:
        print("usage: python -m tests.browserkit screenshots", file=sys.stderr)
        return 2
    missing = chromium_missing()
    if missing:
        print(f"no screenshots: {missing}", file=sys.stderr)
        return 1
    for path in screenshots():
        print(f"written {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
