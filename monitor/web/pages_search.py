"""The search page over all history and its CSV export.

``GET /search`` is a GET form (results are linkable and bookmarkable): free text in the search
engine's syntax (words, "quoted phrases", -exclusion, prefix*; diacritics do not matter) and
filters by local dates, topic, sentiment, severity, source, kind, place and relevance, sorted and
paged. ``GET /search.csv`` streams the same results as a spreadsheet. Bad parameters never fail
the page: each is dropped or clamped and the page says so. Both read through
monitor.storage.search inside the user's source scope.
"""

from __future__ import annotations

import csv
import io
import logging
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from monitor.accounts import Principal
from monitor.bootstrap import MANUAL_NAME, App, manual_source_id
from monitor.config import Settings
from monitor.storage.search import (
    RELEVANCE_POOL,
    SearchHit,
    SearchPage,
    SearchQuery,
    iter_search,
    search,
)
from monitor.storage.searchtext import words
from monitor.web.auth import need, now_of
from monitor.web.render import SENTIMENT_LABELS, Page
from nlp.base import SEVERITIES
from nlp.gazetteer import load_gazetteer, short_name

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

KIND_LABELS = {
    "news": ("Báo chí", "News"),
    "social": ("Mạng xã hội", "Social media"),
    "forum": ("Diễn đàn", "Forum"),
    "manual": ("Cán bộ gửi", "Submitted by staff"),
}
SORT_LABELS = {
    "newest": ("Mới nhất", "Newest"),
    "oldest": ("Cũ nhất", "Oldest"),
    "relevance": ("Khớp nhất", "Best match"),
    "severity": ("Nghiêm trọng nhất", "Most severe"),
}
RELEVANT_LABELS = {
    "any": ("Tất cả", "All"),
    "yes": ("Chỉ tin liên quan", "Relevant only"),
    "no": ("Chỉ tin không liên quan", "Not relevant only"),
}
RELEVANT_VALUES: dict[str, bool | None] = {"any": None, "yes": True, "no": False}
MAX_Q = 500  # characters of search text; a longer query is cut (and the page says so)
MAX_PLACE = 100
# Deep pages cost an OFFSET over every row before them: past this, narrow the filters or export.
MAX_PAGE = 200
PER_PAGE = 50
CSV_CAP = 50_000  # rows in one export
CSV_CHUNK = 500  # rows per chunk sent (each chunk is one trip through the thread pool)
# Dates a person could mean; also keeps local midnight convertible to UTC at either end.
FIRST_YEAR, LAST_YEAR = 1900, 2200
# A cell a spreadsheet would read as a formula (OWASP CSV injection; full-width forms too).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
BOM = "\ufeff"

Problem = tuple[str, str]  # (Vietnamese, English)
FIELD_NAMES = {
    "since": ("Từ ngày", "From"),
    "until": ("Đến ngày", "To"),
    "topic": ("Chủ đề", "Topic"),
    "sentiment": ("Sắc thái", "Sentiment"),
    "severity": ("Mức độ", "Severity"),
    "source": ("Nguồn", "Source"),
    "kind": ("Loại", "Kind"),
    "relevant": ("Liên quan tỉnh", "About the province"),
    "sort": ("Sắp xếp", "Sort"),
}


@dataclass(frozen=True, slots=True)
class SearchForm:
    """What the form shows: the parameters as understood (invalid ones left out)."""

    q: str = ""
    since: str = ""
    until: str = ""
    topic: str = ""
    sentiment: str = ""
    severity: str = ""
    source: str = ""
    kind: str = ""
    place: str = ""
    relevant: str = "any"
    sort: str = "newest"
    page: int = 1

    def params(self, **change: str | int) -> dict[str, str]:
        """The query parameters that reproduce this search (defaults left out), with changes."""
        values: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(change)
        defaults = {"relevant": "any", "page": 1}
        return {k: str(v) for k, v in values.items() if v not in ("", None, defaults.get(k))}

    @property
    def filtered(self) -> bool:
        """Whether any filter beyond the text is set (the filter panel then starts open)."""
        return any(
            (self.since, self.until, self.topic, self.sentiment, self.severity)
            + (self.source, self.kind, self.place, self.relevant != "any")
        )


FORM_FIELDS = tuple(f.name for f in fields(SearchForm))


@dataclass(frozen=True, slots=True)
class Parsed:
    """A request's search: the form to show, the engine's query and what was not understood."""

    form: SearchForm
    query: SearchQuery
    problems: list[Problem] = field(default_factory=list)
    # Other places the typed place name could mean (the first one is searched).
    other_places: tuple[str, ...] = ()


def source_choices(settings: Settings, scope: tuple[str, ...] | None) -> dict[str, str]:
    """The sources a user may pick (configured ones and the manual one), id -> name."""
    names = {s.id: s.name or s.id for s in settings.sources}
    manual = manual_source_id(settings)
    names.setdefault(manual, MANUAL_NAME)
    if scope is None:
        return names
    return {sid: name for sid, name in names.items() if sid in scope}


def _choice(
    params: Mapping[str, str], name: str, allowed: Mapping[str, object], problems: list[Problem]
) -> str:
    value = params.get(name, "").strip()
    if value and value not in allowed:
        vi, en = FIELD_NAMES[name]
        problems.append(
            (f"{vi}: giá trị không hợp lệ, đã bỏ qua.", f"{en}: unknown value ignored.")
        )
        return ""
    return value


def _day(params: Mapping[str, str], name: str, problems: list[Problem]) -> date | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or len(value) != 10 or not FIRST_YEAR <= day.year <= LAST_YEAR:
        vi, en = FIELD_NAMES[name]
        problems.append(
            (
                f"{vi}: ngày không hợp lệ, đã bỏ qua (dạng NNNN-TT-NN, ví dụ 2025-07-01).",
                f"{en}: not a date, ignored (use YYYY-MM-DD, e.g. 2025-07-01).",
            )
        )
        return None
    return day


def _dates(params: Mapping[str, str], problems: list[Problem]) -> tuple[date | None, date | None]:
    since, until = _day(params, "since", problems), _day(params, "until", problems)
    if since and until and since > until:
        problems.append(
            (
                "Ngày bắt đầu sau ngày kết thúc: đã đổi chỗ hai ngày.",
                "The start date was after the end date: the two were swapped.",
            )
        )
        since, until = until, since
    return since, until


def _page(params: Mapping[str, str], problems: list[Problem]) -> int:
    value = params.get("page", "").strip()
    try:
        number = int(value) if value else 1
    except ValueError:
        number = 1
    if number > MAX_PAGE:
        problems.append(
            (
                f"Chỉ xem được {MAX_PAGE} trang đầu: hãy thu hẹp bộ lọc hoặc tải CSV.",
                f"Only the first {MAX_PAGE} pages can be shown: narrow the filters "
                "or download the CSV.",
            )
        )
        return MAX_PAGE
    return max(number, 1)


def _text(params: Mapping[str, str], problems: list[Problem]) -> str:
    q = " ".join(params.get("q", "").split())
    if len(q) > MAX_Q:
        problems.append(
            (
                f"Nội dung tìm kiếm dài quá: chỉ dùng {MAX_Q} ký tự đầu.",
                f"The search text was too long: only its first {MAX_Q} characters are used.",
            )
        )
        q = q[:MAX_Q].rstrip()
    return q


@cache
def known_places(province: str) -> tuple[str, ...]:
    """The official names of the province and its units: what the analyser reports as places."""
    try:
        gazetteer = load_gazetteer(province)
    except KeyError:  # the app refuses to start with an unknown province; nothing to offer
        return ()
    names = [unit.full_name for unit in gazetteer.units]
    if gazetteer.new_full_name:
        names.append(gazetteer.new_full_name)
    return tuple(dict.fromkeys(names))


def resolve_place(typed: str, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The official name a typed place means, and the others it could mean too.

    The search matches a place's official name exactly ("Huyện Hải Hậu"): a name typed with or
    without diacritics, with or without its level ("hai hau"), is read as the official one.
    Anything else (a landmark, an alias) is searched as typed.
    """
    key = " ".join(words(typed))
    if not key:
        return "", ()
    exact = [name for name in names if " ".join(words(name)) == key]
    if exact:
        return exact[0], ()
    short = [name for name in names if " ".join(words(short_name(name))) == key]
    if short:
        return short[0], tuple(short[1:])
    return typed, ()


def clean_param(value: str) -> str:
    """A query parameter with control characters as spaces (PostgreSQL refuses NUL anywhere)."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in value)


def parse(raw: Mapping[str, str], settings: Settings, scope: tuple[str, ...] | None) -> Parsed:
    """The search the query parameters ask for; what cannot be understood is dropped and named."""
    problems: list[Problem] = []
    params = {name: clean_param(value) for name, value in raw.items()}
    q = _text(params, problems)
    since, until = _dates(params, problems)
    place, other_places = resolve_place(
        " ".join(params.get("place", "").split())[:MAX_PLACE],
        known_places(settings.province.name),
    )
    sort = _choice(params, "sort", SORT_LABELS, problems) or ("relevance" if q else "newest")
    if sort == "relevance" and not q:
        sort = "newest"  # nothing to rank by
    form = SearchForm(
        q=q,
        since=since.isoformat() if since else "",
        until=until.isoformat() if until else "",
        topic=_choice(params, "topic", settings.topics, problems),
        sentiment=_choice(params, "sentiment", SENTIMENT_LABELS, problems),
        severity=_choice(params, "severity", dict.fromkeys(SEVERITIES), problems),
        source=_choice(params, "source", source_choices(settings, scope), problems),
        kind=_choice(params, "kind", KIND_LABELS, problems),
        place=place,
        relevant=_choice(params, "relevant", RELEVANT_VALUES, problems) or "any",
        sort=sort,
        page=_page(params, problems),
    )
    return Parsed(form, to_query(form, settings, scope), problems, other_places)


def _midnight(day: date, settings: Settings) -> datetime:
    return datetime.combine(day, time.min, tzinfo=settings.tz)


def to_query(form: SearchForm, settings: Settings, scope: tuple[str, ...] | None) -> SearchQuery:
    """The engine's query for a (valid) form: local days become aware times, until inclusive."""
    since = date.fromisoformat(form.since) if form.since else None
    until = date.fromisoformat(form.until) if form.until else None
    return SearchQuery(
        text=form.q,
        since=_midnight(since, settings) if since else None,
        # The engine's until is exclusive: the end of the local day is the next day's midnight.
        until=_midnight(until + timedelta(days=1), settings) if until else None,
        topic=form.topic or None,
        sentiment=form.sentiment or None,
        severity=form.severity or None,
        source_id=form.source or None,
        kind=form.kind or None,
        place=form.place or None,
        relevant=RELEVANT_VALUES[form.relevant],
        sources=scope,
        sort=form.sort,
        page=form.page,
        per_page=PER_PAGE,
    )


def _run(monitor: App, query: SearchQuery) -> SearchPage:
    with monitor.sessions() as session:
        return search(session, query)


def _results(monitor: App, parsed: Parsed) -> tuple[Parsed, SearchPage]:
    """Run the search; a page past the last one shows the last one instead."""
    found = _run(monitor, parsed.query)
    if found.hits or found.total == 0 or parsed.form.page == 1:
        return parsed, found
    # Past the end (a stale bookmark, an edited URL): the last page the count knows of.
    last = min(found.pages, parsed.form.page - 1, MAX_PAGE)
    form = replace(parsed.form, page=last)
    query = replace(parsed.query, page=last)
    return replace(parsed, form=form, query=query), _run(monitor, query)


def number(page: Page, value: int) -> str:
    """A count with thousands separated as the page language writes them (1.234 / 1,234)."""
    return f"{value:,}".replace(",", "." if page.lang == "vi" else ",")


def count_text(page: Page, found: SearchPage) -> str:
    """'N kết quả' / 'hơn N kết quả' in the page language."""
    number_text = number(page, found.total)
    if found.total_capped:
        return page.t(f"Hơn {number_text} kết quả", f"More than {number_text} results")
    plural = "" if found.total == 1 else "s"
    return page.t(f"{number_text} kết quả", f"{number_text} result{plural}")


def linker(form: SearchForm) -> Callable[..., str]:
    """``link(page=2)``: this search's URL with some parameters changed (the rest kept)."""

    def link(**change: str | int) -> str:
        return "/search?" + urlencode(form.params(**change))

    return link


@router.get("/search")
def search_page(
    request: Request, principal: Annotated[Principal, Depends(need("viewer"))]
) -> HTMLResponse:
    """The search form and, when anything is asked, one page of results."""
    monitor: App = request.app.state.monitor
    page = Page(request)
    parsed = parse(request.query_params, monitor.settings, principal.scope)
    # Any parameter of the form (an empty search too) shows results; a bare /search, the form.
    asked = any(name in request.query_params for name in FORM_FIELDS)
    found: SearchPage | None = None
    if asked:
        parsed, found = _results(monitor, parsed)
    form = parsed.form
    return page.render(
        "search.html",
        form=form,
        found=found,
        count=count_text(page, found) if found else "",
        link=linker(form),
        csv_url="/search.csv?" + urlencode(form.params(page=1)),
        csv_cap=number(page, CSV_CAP),
        max_page=MAX_PAGE,
        relevance_pool=number(page, RELEVANCE_POOL),
        places=known_places(monitor.settings.province.name),
        other_places=parsed.other_places,
        sources=source_choices(monitor.settings, principal.scope),
        source_names=_source_names(monitor.settings),
        kinds=KIND_LABELS,
        sorts=SORT_LABELS,
        relevants=RELEVANT_LABELS,
        severities=SEVERITIES,
        sentiments=SENTIMENT_LABELS,
        flash=" ".join(page.t(*p) for p in parsed.problems),
        flash_kind="error",
    )


def _source_names(settings: Settings) -> dict[str, str]:
    return source_choices(settings, None)


# --- CSV export ---------------------------------------------------------------------------------


def cell(value: object) -> str:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _header(page: Page) -> list[str]:
    pairs = (
        ("Mã", "ID"),
        ("Thời gian đăng", "Published"),
        ("Nguồn", "Source"),
        ("Loại", "Kind"),
        ("Tiêu đề", "Title"),
        ("Đường dẫn", "URL"),
        ("Liên quan", "Relevant"),
        ("Chủ đề", "Topic"),
        ("Sắc thái", "Sentiment"),
        ("Mức độ", "Severity"),
        ("Địa danh", "Places"),
        ("Trang tin trong hệ thống", "Item page"),
    )
    return [page.t(*pair) for pair in pairs]


def _row(page: Page, hit: SearchHit, names: Mapping[str, str], site: str) -> list[str]:
    settings = page.monitor.settings
    relevant = (
        ""
        if hit.relevant is None
        else page.t("có", "yes")
        if hit.relevant
        else page.t("không", "no")
    )
    kind = KIND_LABELS.get(hit.kind)
    values: list[object] = [
        hit.item_id,
        page.local(hit.published_at or hit.fetched_at, "%Y-%m-%d %H:%M"),
        names.get(hit.source_id, hit.source_id),
        page.t(*kind) if kind else hit.kind,
        hit.title,
        hit.url,
        relevant,
        settings.topics.get(hit.topic or "", hit.topic or ""),
        page.sentiment(hit.sentiment) if hit.sentiment else "",
        page.severity(hit.severity) if hit.severity else "",
        "; ".join(hit.places),
        f"{site}/items/{hit.item_id}",
    ]
    return [cell(v) for v in values]


def csv_lines(page: Page, query: SearchQuery, site: str) -> Iterator[bytes]:
    """The export: a BOM and the header, then the hits (at most CSV_CAP) in chunks of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(_header(page))
    yield (BOM + _take(buffer)).encode("utf-8")
    names = _source_names(page.monitor.settings)
    rows = 0
    with page.monitor.sessions() as session:
        for rows, hit in enumerate(iter_search(session, query, limit=CSV_CAP), 1):
            writer.writerow(_row(page, hit, names, site))
            if rows % CSV_CHUNK == 0:
                # iter_search holds nothing open between its batches: end the read transaction
                # while this chunk goes out (on SQLite every transaction takes the write lock,
                # and a slow download must not keep the crawlers from storing).
                session.rollback()
                yield _take(buffer).encode("utf-8")
    yield _take(buffer).encode("utf-8")
    logger.info("search export: %d rows", rows)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


@router.get("/search.csv")
def search_csv(
    request: Request, principal: Annotated[Principal, Depends(need("viewer"))]
) -> StreamingResponse:
    """The results of a search as a CSV file (UTF-8 with BOM, at most CSV_CAP rows)."""
    monitor: App = request.app.state.monitor
    page = Page(request)
    parsed = parse(request.query_params, monitor.settings, principal.scope)
    query = parsed.query
    if query.sort == "relevance":
        # Ranking covers only the RELEVANCE_POOL newest matches: a file of every match is dated.
        query = replace(query, sort="newest")
    day = now_of(request).astimezone(monitor.settings.tz).date().isoformat()
    site = str(request.base_url).rstrip("/")
    logger.info("%s exports a search (%s)", principal.name, urlencode(parsed.form.params()))
    return StreamingResponse(
        csv_lines(page, query, site),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tim-kiem-{day}.csv"'},
    )
