"""The overview (today, 30 days of coverage, top topics and places, open cases), the sources
with their health (administrators switch them off and on), and the archive of daily digests.

Days are local days of ``settings.timezone``, turned into UTC bounds here, so the queries in
monitor.storage.overview know nothing of time zones. The charts and the top topics and places
come from ``hourly_counts`` (what surges count: relevant items, no source dimension), so they
are the same for everyone; today's figures, the open cases and the sources list are limited to
the principal's sources.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from monitor.accounts import Principal
from monitor.bootstrap import App
from monitor.pipeline import disable_source, enable_sources
from monitor.storage import apiqueries, overview
from monitor.storage.overview import KeyCount, Volume
from monitor.web import charts
from monitor.web.auth import need, now_of
from monitor.web.render import Page
from nlp.base import SEVERITIES

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(need("viewer"))]
Admin = Annotated[Principal, Depends(need("admin"))]
CHART_DAYS = 30
TOP_DAYS = 7
TOP_LIMIT = 10
DIGESTS_PER_PAGE = 60
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
VOLUME_COLOUR = "#0b5cad"
NEGATIVE_COLOUR = "#c62828"
OTHER_COLOUR = "#90a4ae"
# The archived HTML is our own template's output, but it carries crawled titles: it is served as
# a document of its own that may run nothing, load nothing but its data: images, and post nowhere.
DIGEST_HTML_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
DONE = {
    "enabled": ("Đã bật lại nguồn {id}.", "Source {id} is collecting again."),
    "disabled": ("Đã tạm dừng nguồn {id}.", "Source {id} is switched off."),
    "unchanged": ("Nguồn {id} đã ở trạng thái này.", "Source {id} was already so."),
}


def _monitor(request: Request) -> App:
    monitor: App = request.app.state.monitor
    return monitor


def midnights(now: datetime, tz: ZoneInfo, days: int) -> list[datetime]:
    """The UTC starts of the last ``days`` local days (today last) and of tomorrow."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    return [
        datetime.combine(first + timedelta(days=i), time(), tz).astimezone(UTC)
        for i in range(days + 1)
    ]


# -- the overview ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Top:
    """A topic or place as the overview lists it: its name, counts and search link."""

    name: str
    total: int
    negative: int
    href: str


def _charts(page: Page, days: list[Volume]) -> tuple[charts.BarChart, charts.BarChart]:
    tz = page.monitor.settings.tz
    labels = [d.start.astimezone(tz).strftime("%d/%m") for d in days]
    relevant = page.t("tin liên quan", "relevant items")
    volume = charts.BarChart(
        "volume",
        page.t("Tin liên quan mỗi ngày", "Relevant items per day"),
        labels,
        [f"{label}: {d.total} {relevant}" for label, d in zip(labels, days, strict=True)],
        [
            charts.Series(
                page.t("Tin liên quan", "Relevant items"), VOLUME_COLOUR, [d.total for d in days]
            )
        ],  # fmt: skip
    )
    hover = [
        page.t(
            f"{label}: {d.negative} tiêu cực ({_share(d)}), {d.total - d.negative} không tiêu cực",
            f"{label}: {d.negative} negative ({_share(d)}), {d.total - d.negative} not negative",
        )
        for label, d in zip(labels, days, strict=True)
    ]
    sentiment = charts.BarChart(
        "sentiment",
        page.t("Tin tiêu cực mỗi ngày", "Negative items per day"),
        labels,
        hover,
        [
            charts.Series(page.sentiment("negative"), NEGATIVE_COLOUR, [d.negative for d in days]),
            charts.Series(
                page.t("Trung tính, tích cực", "Neutral, positive"),
                OTHER_COLOUR,
                [d.total - d.negative for d in days],
            ),
        ],
    )
    return volume, sentiment


def _share(volume: Volume) -> str:
    return f"{round(100 * volume.negative / volume.total)}%" if volume.total else "—"


def _tops(page: Page, since: datetime, until: datetime) -> tuple[list[Top], list[Top]]:
    sessions, names = page.monitor.sessions, page.monitor.settings.topics
    topics = overview.top_keys(sessions, "topic", since, until, TOP_LIMIT)
    places = overview.top_keys(sessions, "place", since, until, TOP_LIMIT)

    # The search shows what was counted: relevant items since the window's first local day.
    first_day = since.astimezone(page.monitor.settings.tz).strftime("%Y-%m-%d")

    def top(row: KeyCount, name: str, field: str) -> Top:
        return Top(name, row.total, row.negative, _search(field, row.key, first_day))

    return (
        [top(row, names.get(row.key, row.key), "topic") for row in topics],
        [top(row, row.key, "place") for row in places],
    )


def _search(field: str, value: str, since: str) -> str:
    return "/search?" + urlencode({field: value, "relevant": "yes", "since": since})


def _by_severity(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Open cases per level, most severe first: every level a case opens at, then any other."""
    levels = [s for s in reversed(SEVERITIES) if s != "none"]
    return [(s, counts.get(s, 0)) for s in levels] + sorted(
        (s, n) for s, n in counts.items() if s not in levels
    )


@router.get("/")
def overview_page(request: Request, principal: Viewer) -> HTMLResponse:
    """Today's counts, 30 days of relevant and negative items, this week's top topics and places,
    and the open cases by severity."""
    page = Page(request)
    bounds = midnights(now_of(request), page.monitor.settings.tz, CHART_DAYS)
    sessions = page.monitor.sessions
    days = overview.daily_volume(sessions, bounds)
    volume, sentiment = _charts(page, days)
    topics, places = _tops(page, bounds[-1 - TOP_DAYS], bounds[-1])
    return page.render(
        "overview.html",
        today=overview.today(sessions, bounds[-2], bounds[-1], principal.scope),
        days=days,
        volume_chart=charts.bar_chart(volume),
        sentiment_chart=charts.bar_chart(sentiment),
        topics=topics,
        places=places,
        severities=_by_severity(overview.open_by_severity(sessions, principal.scope)),
        top_days=TOP_DAYS,
        scoped=principal.scope is not None,
    )


# -- sources ---------------------------------------------------------------------------------------


@router.get("/sources")
def sources_page(
    request: Request,
    principal: Viewer,
    done: Annotated[str | None, Query(max_length=20)] = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Every source (of the principal's) with its health, last runs, failures, items and error."""
    page = Page(request)
    with page.monitor.sessions() as session:
        rows = apiqueries.sources(session, principal.scope)
    flash = None
    if done in DONE and any(row.id == source for row in rows):
        flash = page.t(*DONE[done]).format(id=source)
    return page.render("sources.html", rows=rows, flash=flash, can_switch=principal.can("admin"))


@router.post("/sources/{source_id}/enable")
def switch_source(
    request: Request,
    source_id: str,
    principal: Admin,
    enabled: Annotated[bool, Form()],
) -> RedirectResponse:
    """Put a source back to work (as ``monitor sources enable``) or switch it off (administrators)."""
    monitor = _monitor(request)
    if principal.scope is not None and source_id not in principal.scope:
        raise HTTPException(404, "Không có nguồn này. / No such source.")
    try:
        if enabled:
            changed = source_id in enable_sources(monitor, [source_id], actor=principal.name)
        else:
            reason = f"quản trị viên {principal.name} tạm dừng trên trang Nguồn tin"
            changed = disable_source(monitor, source_id, reason)
    except KeyError:
        raise HTTPException(404, "Không có nguồn này. / No such source.") from None
    done = ("enabled" if enabled else "disabled") if changed else "unchanged"
    logger.info("%s: source %s %s from the dashboard", principal.name, source_id, done)
    target = "/sources?" + urlencode({"done": done, "source": source_id})
    return RedirectResponse(target, status_code=303)


# -- the digest archive ----------------------------------------------------------------------------


@router.get("/digests")
def digests_page(
    request: Request,
    principal: Viewer,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    """The archived daily digests, newest first, a page at a time."""
    page = Page(request)
    with page.monitor.sessions() as session:
        rows = apiqueries.digests(session, limit=DIGESTS_PER_PAGE + 1, offset=offset)
    return page.render(
        "digests.html",
        rows=rows[:DIGESTS_PER_PAGE],
        newer=max(0, offset - DIGESTS_PER_PAGE) if offset else None,
        older=offset + DIGESTS_PER_PAGE if len(rows) > DIGESTS_PER_PAGE else None,
    )


def _day(day: str) -> str:
    if not DAY.match(day):
        raise HTTPException(404, "Không có bản tin của ngày này. / No digest for that day.")
    return day


@router.get("/digests/{day}")
def digest_page(request: Request, day: str, principal: Viewer) -> HTMLResponse:
    """One archived digest, as its plain-text version (the stored HTML is never put in a page)."""
    page = Page(request)
    with page.monitor.sessions() as session:
        found = apiqueries.digest(session, _day(day))
    if found is None:
        raise HTTPException(404, "Không có bản tin của ngày này. / No digest for that day.")
    return page.render("digest.html", digest=found)


@router.get("/digests/{day}/html")
def digest_html(request: Request, day: str, principal: Viewer) -> Response:
    """The archived digest as it was mailed, as a sandboxed document of its own."""
    html = overview.digest_html(_monitor(request).sessions, _day(day))
    if html is None:
        raise HTTPException(404, "Không có bản tin của ngày này. / No digest for that day.")
    return HTMLResponse(html, headers={"Content-Security-Policy": DIGEST_HTML_CSP})
