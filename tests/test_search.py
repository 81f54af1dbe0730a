"""Search over all history, on SQLite (FTS5) and PostgreSQL (tsvector) alike.

Items are stored as a crawl run stores them (``repo.ingest`` then ``repo.save_analyses``), so
the index is kept by the migration's triggers, not by the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, text

from crawlers.base import ItemRecord
from monitor.bootstrap import App
from monitor.storage import db, repo, search
from monitor.storage.models import Analysis as AnalysisRow
from monitor.storage.models import Item
from monitor.storage.search import SearchQuery, backend_of, iter_search
from monitor.storage.searchindex import PostgreSQLIndex
from monitor.storage.searchtext import parse, snippet
from nlp.base import Analysis, Place
from tests.conftest import AppFactory, Database

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
SOURCES = [
    {"id": "bao-a", "kind": "rss", "url": "http://127.0.0.1/a"},
    {"id": "bao-b", "kind": "rss", "url": "http://127.0.0.1/b"},
]


@dataclass
class Entry:
    """One item to store and the analysis to store with it (None: not analysed)."""

    slug: str
    title: str
    text: str = ""
    hours: int = 0  # published T0 + hours
    source: str = "bao-a"
    kind: str = "news"
    severity: str = "none"
    relevant: bool = False
    topic: str | None = None
    sentiment: str | None = None
    places: list[str] = field(default_factory=list)
    analysed: bool = True

    def record(self) -> ItemRecord:
        url = f"https://{self.source}.example.vn/{self.slug}.html"
        published = T0 + timedelta(hours=self.hours)
        return ItemRecord(url, url, self.title, self.text, self.kind, published_at=published)

    def analysis(self) -> Analysis:
        return Analysis(
            "test",
            self.relevant,
            1.0 if self.relevant else 0.0,
            severity=self.severity,
            places=[Place(name, "district", 0, 0) for name in self.places],
            topic=self.topic,
            sentiment=self.sentiment,
        )


def store(app: App, *entries: Entry) -> dict[str, int]:
    """Store the entries as a crawl run would; returns item ids by slug."""
    ids: dict[str, int] = {}
    with db.transaction(app.sessions) as session:
        for source in dict.fromkeys(e.source for e in entries):
            mine = [e for e in entries if e.source == source]
            result = repo.ingest(session, source, [e.record() for e in mine])
            by_url = {r.canonical_url: i for i, r in [*result.new, *result.updated]}
            for e in mine:
                ids[e.slug] = by_url[e.record().canonical_url]
        repo.save_analyses(session, [(ids[e.slug], e.analysis()) for e in entries if e.analysed])
    return ids


def find(app: App, **query: Any) -> list[str]:
    """The slugs of the hits of one page, in order."""
    with app.sessions() as session:
        page = search.search(session, SearchQuery(**query))
    return [h.url.rsplit("/", 1)[1].removesuffix(".html") for h in page.hits]


@pytest.fixture
def app(make_app: AppFactory) -> App:
    return make_app(SOURCES)


def test_unaccented_words_find_accented_text_and_the_reverse(app: App) -> None:
    store(
        app,
        Entry("accented", "Mưa lớn ở Nam Định", "Nước dâng tại huyện Hải Hậu.", hours=2),
        Entry("plain", "mua lon o nam dinh", "nuoc dang tai huyen hai hau", hours=1),
        Entry("other", "Mưa lớn ở Ninh Bình", "Nam Trực không có mưa, Định Công nắng."),
    )

    assert find(app, text="nam dinh") == ["accented", "plain", "other"]
    assert find(app, text='"nam dinh"') == ["accented", "plain"]
    assert find(app, text='"Nam Định"') == ["accented", "plain"]
    assert find(app, text="HẢI HẬU") == ["accented", "plain"]
    assert find(app, text="ninh binh") == ["other"]


def test_a_phrase_matches_only_the_words_in_that_order(app: App) -> None:
    store(
        app,
        Entry("bridge", "Cầu Tân Phong xuống cấp", "Người dân lo lắng.", hours=3),
        Entry("apart", "Phong trào ở xã Tân Thành", "Ông Tân nêu yêu cầu mới.", hours=2),
        Entry("reversed", "Phong Tân cầu", "", hours=1),
    )

    assert find(app, text='"cầu Tân Phong"') == ["bridge"]
    assert find(app, text="cầu Tân Phong") == ["bridge", "apart", "reversed"]
    # Words joined by punctuation are a phrase of their parts.
    assert find(app, text="Tân-Phong") == ["bridge"]


def test_excluded_words_and_phrases_leave_their_items_out(app: App) -> None:
    store(
        app,
        Entry("storm", "Bão số 3 đổ bộ vào Nam Định", hours=2),
        Entry("flood", "Lũ ở Nam Định", "Không có bão nhưng mưa to.", hours=1),
        Entry("fair", "Nam Định nắng đẹp", hours=0),
    )

    assert find(app, text="nam dinh -bão") == ["fair"]
    assert find(app, text='nam dinh -"số 3"') == ["flood", "fair"]
    # Only exclusions: everything else.
    assert find(app, text="-bao") == ["fair"]


def test_a_prefix_finds_the_longer_words(app: App) -> None:
    store(
        app,
        Entry("block", "Chặn xe quá tải", hours=3),
        Entry("shield", "Chắn sóng", hours=2),
        Entry("lemon", "Giá chanh tăng", hours=1),
        Entry("run", "Chạy thử tàu", hours=0),
    )

    assert find(app, text="chặn*") == ["block", "shield", "lemon"]
    assert find(app, text="chặn") == ["block", "shield"]
    # One letter is no prefix (it would match nearly everything): it is the word "c".
    assert find(app, text="c*") == []


FILTER_CASES = [
    ({"source_id": "bao-b"}, ["social"]),
    ({"kind": "social"}, ["social"]),
    ({"topic": "health"}, ["hospital"]),
    ({"sentiment": "negative"}, ["fire", "hospital"]),
    ({"severity": "alert"}, ["hospital"]),
    ({"min_severity": "alert"}, ["fire", "hospital"]),
    ({"place": "Huyện Hải Hậu"}, ["fire", "social"]),
    ({"place": "Hải Hậu"}, []),  # the official name, exactly
    ({"relevant": True}, ["fire", "social", "hospital"]),
    ({"relevant": False}, ["plain", "unanalysed"]),
    ({"since": T0 + timedelta(hours=2)}, ["fire", "social", "hospital"]),
    ({"until": T0 + timedelta(hours=2)}, ["plain", "unanalysed"]),
    ({"since": T0 + timedelta(hours=1), "until": T0 + timedelta(hours=3)}, ["hospital", "plain"]),
    ({"sources": ("bao-b",)}, ["social"]),
    ({"sources": ()}, []),
    ({"topic": "health", "severity": "critical"}, []),
]


def _filter_set(app: App) -> None:
    store(
        app,
        Entry(
            "fire",
            "Cháy chợ ở Hải Hậu",
            hours=4,
            severity="critical",
            relevant=True,
            topic="public_order",
            sentiment="negative",
            places=["Huyện Hải Hậu", "Nam Định"],
        ),
        Entry(
            "social",
            "Người dân bàn về chợ",
            hours=3,
            source="bao-b",
            kind="social",
            severity="watch",
            relevant=True,
            sentiment="neutral",
            places=["Huyện Hải Hậu"],
        ),
        Entry(
            "hospital",
            "Bệnh viện quá tải",
            hours=2,
            severity="alert",
            relevant=True,
            topic="health",
            sentiment="negative",
            places=["Huyện Giao Thủy"],
        ),
        Entry("plain", "Tin thể thao", hours=1, topic="culture_society", sentiment="positive"),
        Entry("unanalysed", "Tin chưa phân tích", hours=0, analysed=False),
    )


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES, ids=lambda x: str(x)[:40])
def test_each_filter_keeps_only_its_items(
    app: App, filters: dict[str, Any], expected: list[str]
) -> None:
    _filter_set(app)

    assert find(app, **filters) == expected


def test_filters_combine_with_words(app: App) -> None:
    _filter_set(app)

    assert find(app, text="chợ", place="Huyện Hải Hậu") == ["fire", "social"]
    assert find(app, text="chợ", kind="news") == ["fire"]
    assert find(app, text="chợ", sentiment="positive") == []


def test_the_four_orders(app: App) -> None:
    _filter_set(app)
    store(app, Entry("late", "Tin cũ về chợ", "chợ chợ chợ chợ chợ", hours=-30))

    assert find(app) == ["fire", "social", "hospital", "plain", "unanalysed", "late"]
    assert find(app, sort="oldest") == ["late", "unanalysed", "plain", "hospital", "social", "fire"]
    assert find(app, sort="severity") == [
        *["fire", "hospital", "social", "plain", "late", "unanalysed"]
    ]
    # The old item saying "chợ" six times before the newer ones saying it once.
    assert find(app, text="chợ", sort="relevance")[0] == "late"
    # Without words there is nothing to weigh: newest first.
    assert find(app, sort="relevance")[0] == "fire"


def test_relevance_puts_the_items_most_about_the_words_first(app: App) -> None:
    store(
        app,
        Entry("many", "Đê biển", "Đê được gia cố. Đê cao hơn. Đê mới.", hours=0),
        Entry("once", "Tin tổng hợp", "Hôm nay có mưa, gió, đê và nhiều tin khác nữa.", hours=1),
        *[Entry(f"filler{n}", f"Tin thời tiết số {n}", hours=2 + n) for n in range(8)],
    )

    assert find(app, text="đê", sort="relevance") == ["many", "once"]
    assert find(app, text="đê") == ["once", "many"]


def test_past_the_relevance_pool_come_the_older_matches_newest_first(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(
        app,
        *[Entry(f"n{n}", "Đê", "đê " * (n + 1), hours=n) for n in range(5)],
        Entry("other", "Tin khác", hours=9),
    )
    monkeypatch.setattr(search, "RELEVANCE_POOL", 2)

    pages = [find(app, text="đê", sort="relevance", per_page=2, page=p) for p in (1, 2, 3)]
    with app.sessions() as session:
        exported = list(iter_search(session, SearchQuery(text="đê", sort="relevance")))

    # The two newest (n4, n3) weighed against each other, then n2, n1, n0 by date.
    assert pages == [["n4", "n3"], ["n2", "n1"], ["n0"]]
    assert [h.url.rsplit("/", 1)[1] for h in exported] == [f"n{n}.html" for n in (4, 3, 2, 1, 0)]


def test_a_word_both_asked_for_and_excluded_finds_nothing(app: App) -> None:
    store(app, Entry("x", "Tỉnh Nam Định"))

    assert find(app, text="tỉnh -tinh") == []
    assert find(app, text='"nam dinh" -"Nam Định"') == []


def _everything(app: App) -> list[Any]:
    """The answers to a spread of queries: pages in each order, and an export."""
    answers: list[Any] = []
    for sort in ("newest", "oldest", "severity", "relevance"):
        for page in (1, 2, 3):
            answers.append(find(app, text="tin", sort=sort, per_page=3, page=page))
        answers.append(find(app, sort=sort, severity="alert", per_page=2))
    with app.sessions() as session:
        for sort in ("newest", "severity", "relevance"):
            answers.append(
                [h.item_id for h in iter_search(session, SearchQuery(text="tin", sort=sort))]
            )
    return answers


def test_every_plan_gives_the_same_answers(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    store(
        app,
        *[
            Entry(
                f"n{n}",
                f"Tin {n}",
                "tin " * (n % 4),
                hours=n,
                severity=("alert", "none", "watch")[n % 3],
            )
            for n in range(10)
        ],
    )
    monkeypatch.setattr(search, "RELEVANCE_POOL", 4)
    monkeypatch.setattr(search, "_BATCH", 3)
    expected = _everything(app)

    # PostgreSQL: the date index walked even for few matches, then the fence stopped early.
    monkeypatch.setattr(PostgreSQLIndex, "FEW", -1)
    assert _everything(app) == expected
    monkeypatch.setattr(PostgreSQLIndex, "FEW", 10**9)
    monkeypatch.setattr(PostgreSQLIndex, "FEW_GUARD", 2)
    assert _everything(app) == expected


def test_pages_and_totals(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    store(app, *[Entry(f"n{n}", f"Tin số {n} về giao thông", hours=n) for n in range(7)])

    with app.sessions() as session:
        pages = [
            search.search(session, SearchQuery(text="giao thông", per_page=3, page=p))
            for p in (1, 2, 3, 4)
        ]
        by_severity = search.search(
            session, SearchQuery(text="giao thông", sort="severity", per_page=3, page=3)
        )
        monkeypatch.setattr(search, "COUNT_CAP", 5)
        capped = search.search(session, SearchQuery(text="giao thông", per_page=3))

    assert [[h.title.split()[2] for h in p.hits] for p in pages] == [
        ["6", "5", "4"],
        ["3", "2", "1"],
        ["0"],
        [],
    ]
    assert [(p.total, p.total_capped, p.pages, p.has_next) for p in pages] == [
        (7, False, 3, True),
        (7, False, 3, True),
        (7, False, 3, False),
        (7, False, 3, False),
    ]
    assert [h.title for h in by_severity.hits] == ["Tin số 0 về giao thông"]
    assert (capped.total, capped.total_capped, capped.pages) == (5, True, 2)


def test_a_users_sources_bound_every_search(app: App) -> None:
    store(
        app,
        Entry("mine", "Đê biển Hải Hậu", source="bao-a"),
        Entry("theirs", "Đê biển Giao Thủy", source="bao-b"),
    )

    assert find(app, text="đê biển", sources=("bao-a",)) == ["mine"]
    # A source filter outside the scope finds nothing, it does not widen the scope.
    assert find(app, text="đê biển", sources=("bao-a",), source_id="bao-b") == []
    assert find(app, text="-xyz", sources=("bao-b",)) == ["theirs"]


def test_changed_text_and_analysis_are_what_is_found(app: App) -> None:
    ids = store(app, Entry("dyke", "Đê biển sạt lở", "Sóng lớn.", severity="alert"))
    assert find(app, text="sạt lở") == ["dyke"]

    # The source publishes a fuller text; the analyser now calls it critical.
    store(
        app,
        Entry(
            "dyke", "Đê biển đã được gia cố", "Công trình hoàn thành.", hours=5, severity="critical"
        ),
    )

    assert find(app, text="sạt lở") == []
    assert find(app, text="gia cố") == ["dyke"]
    assert find(app, severity="alert") == []
    assert find(app, severity="critical") == ["dyke"]
    assert find(app, since=T0 + timedelta(hours=5)) == ["dyke"]
    with app.sessions() as session:
        assert search.search(session, SearchQuery(text="gia cố")).hits[0].item_id == ids["dyke"]


def test_a_deleted_item_is_not_found(app: App) -> None:
    ids = store(
        app,
        Entry("gone", "Tin sẽ bị xoá ở Hải Hậu", severity="alert", places=["Huyện Hải Hậu"]),
        Entry("kept", "Tin ở lại Hải Hậu", hours=1),
    )
    with db.transaction(app.sessions) as session:
        session.execute(delete(Item).where(Item.id == ids["gone"]))

    assert find(app, text="hai hau") == ["kept"]
    assert find(app, severity="alert") == []
    assert find(app, place="Huyện Hải Hậu") == []
    with app.sessions() as session:
        assert search.search(session, SearchQuery()).total == 1


def test_an_analysis_removed_takes_its_facets_with_it(app: App) -> None:
    ids = store(app, Entry("x", "Tin", severity="critical", relevant=True, topic="health"))
    with db.transaction(app.sessions) as session:
        session.execute(delete(AnalysisRow).where(AnalysisRow.item_id == ids["x"]))

    assert find(app, severity="critical") == []
    assert find(app, relevant=False) == ["x"]
    assert find(app, sort="severity") == ["x"]


HOSTILE = [
    '"',
    '""',
    "*",
    "**",
    "-",
    "- -",
    "NEAR(",
    "NEAR(a b, 2)",
    "a NOT",
    "OR",
    "AND b",
    ":",
    "search_text:",
    "facets: zzall",
    "&|!",
    "a & b | !c",
    "<->",
    "a:*",
    "'",
    "'; DROP TABLE items; --",
    '" OR 1=1 --',
    "\\",
    "x" * 10_000,
    "chợ " * 5_000,
    ".,;!?()[]{}",
    "\x00\x01",
    "^ $ % #",
    "(((((",
    "a" + "\u0301" * 50,
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda s: repr(s[:20]))
def test_hostile_query_text_never_raises(app: App, hostile: str) -> None:
    store(app, Entry("market", "Chợ Viềng mở cửa", "Người dân đi chợ đông."))

    with app.sessions() as session:
        page = search.search(session, SearchQuery(text=hostile))
        exported = list(iter_search(session, SearchQuery(text=hostile, sort="relevance")))

    # Either nothing, or the words it holds ("chợ" five thousand times is the word chợ).
    assert [h.title for h in page.hits] in ([], ["Chợ Viềng mở cửa"])
    assert len(exported) == len(page.hits)


def test_punctuation_only_is_an_empty_query_that_finds_everything(app: App) -> None:
    store(app, Entry("a", "Tin một"), Entry("b", "Tin hai", hours=1))

    assert find(app, text="?!... --") == ["b", "a"]


def test_snippets_are_plain_text_segments_around_the_match(app: App) -> None:
    lead = "Mở đầu dài dòng. " * 20
    store(
        app,
        Entry(
            "xss",
            "<b>Tiêu đề</b> về Hải Hậu",
            f"{lead}Người dân <script>alert('x')</script> ở huyện Hải Hậu phản ánh. "
            + "Đuôi. " * 50,
        ),
    )

    with app.sessions() as session:
        hit = search.search(session, SearchQuery(text="hai hau")).hits[0]

    marked = [piece for piece, hit_ in hit.snippet if hit_]
    joined = "".join(piece for piece, _ in hit.snippet)
    assert marked == ["Hải Hậu"]
    assert "<script>alert('x')</script>" in joined  # stored text, as it is: the page escapes it
    assert joined.startswith("…") and joined.endswith("…")
    assert len(joined) < 300
    assert hit.title_segments == [("<b>Tiêu đề</b> về ", False), ("Hải Hậu", True)]


def test_snippet_of_a_phrase_marks_the_phrase_and_a_text_without_match_its_start() -> None:
    text_ = "Ông Tân nói về cầu Tân Phong, không phải phong trào."

    assert snippet(text_, parse('"cầu tân phong"')) == [
        ("Ông Tân nói về ", False),
        ("cầu Tân Phong", True),
        (", không phải phong trào.", False),
    ]
    assert snippet(text_, parse("xyz")) == [(text_, False)]


def test_iter_search_streams_every_hit_in_order(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    store(
        app,
        *[
            Entry(f"n{n}", f"Tin {n}", severity=("alert" if n % 3 == 0 else "none"), hours=n)
            for n in range(11)
        ],
    )
    monkeypatch.setattr(search, "_BATCH", 4)

    with app.sessions() as session:
        newest = [h.title for h in iter_search(session, SearchQuery(per_page=2, page=3))]
        oldest = [h.title for h in iter_search(session, SearchQuery(sort="oldest"), limit=5)]
        severe = [h.title for h in iter_search(session, SearchQuery(sort="severity"))]

    assert newest == [f"Tin {n}" for n in range(10, -1, -1)]
    assert oldest == [f"Tin {n}" for n in range(5)]
    assert severe == [f"Tin {n}" for n in (9, 6, 3, 0, 10, 8, 7, 5, 4, 2, 1)]


def test_hits_say_what_the_results_table_shows(app: App) -> None:
    ids = store(
        app,
        Entry(
            "x",
            "Cháy ở Hải Hậu",
            "Nội dung.",
            severity="alert",
            relevant=True,
            topic="public_order",
            sentiment="negative",
            places=["Huyện Hải Hậu", "Nam Định", "Huyện Hải Hậu"],
        ),
    )

    with app.sessions() as session:
        hit = search.search(session, SearchQuery(text="chay")).hits[0]

    assert (hit.item_id, hit.source_id, hit.kind, hit.published_at) == (
        ids["x"],
        "bao-a",
        "news",
        T0,
    )
    assert (hit.relevant, hit.topic, hit.sentiment, hit.severity) == (
        True,
        "public_order",
        "negative",
        "alert",
    )
    assert hit.places == ["Huyện Hải Hậu", "Nam Định"]
    assert hit.url == "https://bao-a.example.vn/x.html"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sort": "random"}, "sort"),
        ({"per_page": 201}, "per_page"),
        ({"page": 0}, "page"),
        ({"severity": "high"}, "severity"),
        ({"since": datetime(2025, 1, 1)}, "aware"),
    ],
)
def test_a_bad_query_is_refused_naming_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchQuery(**kwargs)


def test_the_backend_is_told_from_the_session(app: App, database: Database) -> None:
    with app.sessions() as session:
        assert backend_of(session) == database.backend


def test_items_stored_before_the_index_are_found_after_the_migration(database: Database) -> None:
    db.upgrade(database.engine, "0005")
    # As each engine keeps a timestamp (SQLite: naive UTC text).
    when: Any = T0 if database.backend == "postgresql" else "2025-07-01 08:00:00.000000"
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sources (id, kind, url, enabled, created_at, cursor, health, "
                "consecutive_failures, failure_score) VALUES "
                "('s', 'rss', 'http://x', true, :t, '{}', 'active', 0, 0)"
            ),
            {"t": when},
        )
        conn.execute(
            text(
                "INSERT INTO items (source_id, kind, url, canonical_url, title, text, fetched_at, "
                "content_hash, meta) VALUES ('s', 'news', 'u', 'u', 'Đê biển Hải Hậu', "
                "'Sạt lở.', :t, 'h', '{}')"
            ),
            {"t": when},
        )
    db.upgrade(database.engine)

    sessions = db.session_factory(database.engine)
    with sessions() as session:
        page = search.search(session, SearchQuery(text="de bien", since=T0))
    assert [h.title for h in page.hits] == ["Đê biển Hải Hậu"]
