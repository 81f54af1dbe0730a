"""The JSON API under /api: items and search, stories, cases (read and act), sources, digests.

Authentication is the app's (monitor.web.auth): ``Authorization: Bearer mon_...`` with a token an
administrator made (``/admin`` or ``monitor users token create``), or a browser session (then an
unsafe request also sends the ``X-CSRF-Token`` header). Anonymous, unknown, revoked tokens and
tokens of disabled users get 401. Viewers read; acting on a case needs the analyst role (403).
Everything listed is limited to the caller's sources (``Principal.scope``).

``GET /api/search`` is an alias of ``GET /api/items`` that requires ``q``: one implementation, two
names (a search client says what it does, a list client needs no text). Case actions are recorded
with channel ``api``, so the audit trail tells a script's change from one made on the pages.
The schema is served at ``/api/openapi.json`` and read by people at ``/api/docs`` (a page of
ours: the stock documentation pages load scripts from a CDN, which the CSP and offline use rule
out); both need a login like everything else and are left out of the schema themselves.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPBearer

from monitor import cases, feedback
from monitor.accounts import Principal
from monitor.bootstrap import App
from monitor.config import Settings
from monitor.storage import apiqueries, db
from monitor.storage.search import SearchHit, SearchQuery, search
from monitor.web import api_models as m
from monitor.web.auth import need, now_of
from monitor.web.pages_search import clean_param
from monitor.web.render import Page
from nlp.base import SEVERITIES

logger = logging.getLogger(__name__)
# Documents the bearer scheme in the schema; monitor.web.auth has already checked the header.
_bearer = HTTPBearer(
    auto_error=False,
    description="API token: `Authorization: Bearer mon_...` (created by an administrator)",
)
router = APIRouter(
    dependencies=[Depends(_bearer)],
    responses={401: {"model": m.Problem, "description": "Chưa xác thực / not authenticated"}},
)
Viewer = Annotated[Principal, Depends(need("viewer"))]
Analyst = Annotated[Principal, Depends(need("analyst"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": m.Problem, "description": "Không có / not found"}
}
FIRST_YEAR, LAST_YEAR = 1900, 2200
STORY_ITEMS = 500  # items listed with a story
CASE_KINDS = ("item", "story", "source", "surge")
STATUS_GROUPS: dict[str, tuple[str, ...] | None] = {
    "all": None,
    "open": cases.OPEN,
    "closed": cases.CLOSED,
    **{s: (s,) for s in cases.STATUSES},
}


def _monitor(request: Request) -> App:
    app: App = request.app.state.monitor
    return app


def _not_found(what: tuple[str, str], key: object) -> HTTPException:
    return HTTPException(404, f"Không có {what[0]} {key}. / No {what[1]} {key}.")


# -- items and search -------------------------------------------------------------------------


def _instant(value: str | None, settings: Settings, *, end: bool) -> datetime | None:
    """A local day's start (or, for ``end``, the next day's: until is inclusive) or a time."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            moment = datetime.combine(day, time.min, tzinfo=settings.tz)
        else:
            moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        moment = None
    # Years a person could mean; also keeps the time convertible to UTC at either end.
    if moment is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise HTTPException(422, f"Ngày giờ không hợp lệ / not a date or time: {value}")
    return moment if moment.tzinfo else moment.replace(tzinfo=settings.tz)


def _query(request: Request, principal: Principal, filters: m.ItemFilters) -> SearchQuery:
    settings = _monitor(request).settings
    if filters.topic is not None and filters.topic not in settings.topics:
        known = ", ".join(settings.topics)
        raise HTTPException(422, f"Chủ đề không có / unknown topic {filters.topic!r}: {known}")
    text = " ".join(clean_param(filters.q).split())
    sort = filters.sort or ("relevance" if text else "newest")
    return SearchQuery(
        text=text,
        since=_instant(filters.since, settings, end=False),
        until=_instant(filters.until, settings, end=True),
        topic=filters.topic,
        sentiment=filters.sentiment,
        severity=filters.severity,
        min_severity=filters.min_severity,
        source_id=clean_param(filters.source) if filters.source else None,
        kind=filters.kind,
        place=" ".join(clean_param(filters.place).split()) if filters.place else None,
        relevant={"any": None, "yes": True, "no": False}[filters.relevant],
        sources=principal.scope,
        sort=sort if text or sort != "relevance" else "newest",
        page=filters.page,
        per_page=filters.per_page,
    )


def _hit(hit: SearchHit) -> m.ItemHit:
    segments = [m.Segment(text=text, match=match) for text, match in hit.snippet]
    return m.ItemHit.model_validate(
        {
            **asdict(hit),
            "id": hit.item_id,
            "snippet": "".join(s.text for s in segments),
            "snippet_segments": segments,
            "title_segments": [m.Segment(text=t, match=on) for t, on in hit.title_segments],
        }
    )


def _items(request: Request, principal: Principal, filters: m.ItemFilters) -> m.ItemPage:
    with _monitor(request).sessions() as session:
        found = search(session, _query(request, principal, filters))
    return m.ItemPage(
        items=[_hit(hit) for hit in found.hits],
        total=found.total,
        total_capped=found.total_capped,
        page=found.page,
        per_page=found.per_page,
        pages=found.pages,
        has_next=found.has_next,
    )


@router.get("/items", response_model=m.ItemPage, tags=["items"], summary="Tin / Items")
def list_items(
    request: Request, principal: Viewer, filters: Annotated[m.ItemFilters, Query()]
) -> m.ItemPage:
    """Items matching the filters (those of the search page), newest first or as sort says."""
    return _items(request, principal, filters)


@router.get("/search", response_model=m.ItemPage, tags=["items"], summary="Tìm kiếm / Search")
def search_items(
    request: Request, principal: Viewer, filters: Annotated[m.SearchFilters, Query()]
) -> m.ItemPage:
    """Full-text search: the same as /api/items with q required, best match first."""
    return _items(request, principal, filters)


@router.get(
    "/items/{item_id}",
    response_model=m.Item,
    responses=NOT_FOUND,
    tags=["items"],
    summary="Một tin / One item",
)
def get_item(request: Request, principal: Viewer, item_id: int) -> m.Item:
    """One item: its text, the analysis, analysts' corrections, its story and case."""
    monitor = _monitor(request)
    with monitor.sessions() as session:
        item = apiqueries.item_full(session, item_id, principal.scope)
    if item is None:
        raise _not_found(("tin", "item"), item_id)
    history = feedback.history(monitor, item_id)
    in_force: dict[str, Any] = {}
    for label in reversed(history):  # oldest first: the newest of each field wins
        in_force[label.field] = label
    analysed = item.analysis
    shown = feedback.effective(analysed or {}, in_force)
    return m.Item.model_validate(
        {
            **asdict(item),
            "effective": {field: value.value for field, value in shown.items()},
            "corrections": [asdict(label) for label in history],
        }
    )


# -- stories ----------------------------------------------------------------------------------


@router.get(
    "/stories", response_model=m.StoryPage, tags=["stories"], summary="Câu chuyện / Stories"
)
def list_stories(
    request: Request,
    principal: Viewer,
    page: Annotated[int, Query(ge=1, le=m.MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
    severity: Annotated[m.Severity | None, Query(description="Ít nhất / at least")] = None,
    since: Annotated[
        str | None, Query(pattern=m.DAY_OR_TIME, description="Thấy từ / seen since")
    ] = None,
) -> m.StoryPage:
    """Stories (copies of one article across outlets), the most recently seen first."""
    settings = _monitor(request).settings
    with _monitor(request).sessions() as session:
        found = apiqueries.recent_stories(
            session,
            scope=principal.scope,
            limit=per_page + 1,
            offset=(page - 1) * per_page,
            min_severity=severity,
            since=_instant(since, settings, end=False),
        )
    return m.StoryPage(
        stories=[m.Story.model_validate(s) for s in found[:per_page]],
        page=page,
        per_page=per_page,
        more=len(found) > per_page,
    )


@router.get(
    "/stories/{story_id}",
    response_model=m.StoryDetail,
    responses=NOT_FOUND,
    tags=["stories"],
    summary="Một câu chuyện / One story",
)
def get_story(request: Request, principal: Viewer, story_id: int) -> m.StoryDetail:
    """A story and its items, the earliest first."""
    with _monitor(request).sessions() as session:
        found = apiqueries.story(session, story_id, principal.scope)
        if found is None:
            raise _not_found(("câu chuyện", "story"), story_id)
        items = apiqueries.story_items(session, story_id, principal.scope, STORY_ITEMS)
    return m.StoryDetail(
        story=m.Story.model_validate(found),
        items=[m.StoryItem.model_validate(i) for i in items],
    )


# -- cases ------------------------------------------------------------------------------------


def _case(view: cases.CaseView) -> m.Case:
    names = m.Names(
        vi=cases.STATUS_LABELS.get(view.status, view.status),
        en=m.STATUS_NAMES_EN.get(view.status, view.status),
    )
    return m.Case.model_validate(
        {
            **asdict(view),
            "status_name": names,
            "allowed_actions": cases.allowed_actions(view.status),
        }
    )


@router.get("/cases", response_model=m.CaseList, tags=["cases"], summary="Sự vụ / Cases")
def list_cases(
    request: Request,
    principal: Viewer,
    status: Annotated[
        str, Query(pattern=f"^({'|'.join(STATUS_GROUPS)})$", description="all | open | closed | …")
    ] = "open",
    severity: Annotated[m.Severity | None, Query(description="Ít nhất / at least")] = None,
    kind: Annotated[str | None, Query(pattern=f"^({'|'.join(CASE_KINDS)})$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> m.CaseList:
    """Cases, the most severe first, then the soonest due."""
    with _monitor(request).sessions() as session:
        found = apiqueries.cases_page(
            session,
            statuses=STATUS_GROUPS[status],
            severities=SEVERITIES[SEVERITIES.index(severity) :] if severity else None,
            kinds=(kind,) if kind else None,
            scope=principal.scope,
            limit=limit,
            offset=offset,
            now=now_of(request),
        )
    return m.CaseList(cases=[_case(c) for c in found], limit=limit, offset=offset)


def _visible(monitor: App, case_id: int, principal: Principal) -> None:
    with monitor.sessions() as session:
        if not apiqueries.case_visible(session, case_id, principal.scope):
            raise _not_found(("sự vụ", "case"), case_id)


@router.get(
    "/cases/{case_id}",
    response_model=m.CaseDetail,
    responses=NOT_FOUND,
    tags=["cases"],
    summary="Một sự vụ / One case",
)
def get_case(request: Request, principal: Viewer, case_id: int) -> m.CaseDetail:
    """A case with its audit trail and what it is about."""
    monitor = _monitor(request)
    _visible(monitor, case_id, principal)
    try:
        found = cases.show(monitor.sessions, case_id, now_of(request))
    except KeyError:
        raise _not_found(("sự vụ", "case"), case_id) from None
    return m.CaseDetail(
        case=_case(found.case),
        events=[m.CaseEvent.model_validate(e) for e in found.events],
        story=m.CaseStory.model_validate(found.story) if found.story else None,
        item=m.CaseItem.model_validate(found.item) if found.item else None,
        source=m.CaseSource.model_validate(found.source) if found.source else None,
    )


@router.post(
    "/cases/{case_id}/actions",
    response_model=m.Case,
    tags=["cases"],
    summary="Xử lý sự vụ / Act on a case",
    responses={
        **NOT_FOUND,
        403: {"model": m.Problem, "description": "Cần quyền analyst / needs the analyst role"},
        409: {"model": m.Problem, "description": "Trạng thái không cho phép / state forbids it"},
        422: {"model": m.Problem, "description": "Thiếu ghi chú/người nhận / missing note"},
    },
)
def act_on_case(
    request: Request, principal: Analyst, case_id: int, action: m.CaseActionIn
) -> m.Case:
    """Apply a workflow action (recorded as the caller, channel api); the case after it."""
    monitor = _monitor(request)
    try:
        with db.transaction(monitor.sessions) as session:
            if not apiqueries.case_visible(session, case_id, principal.scope):
                raise _not_found(("sự vụ", "case"), case_id)
            view = cases.transition(
                session,
                case_id,
                action.action,
                actor=principal.name,
                channel="api",
                note=action.note,
                assignee=action.assignee,
                now=now_of(request),
            )
    except KeyError:
        raise _not_found(("sự vụ", "case"), case_id) from None
    except cases.IllegalTransition as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:  # a note without text, an assign without a person
        raise HTTPException(422, str(exc)) from None
    logger.info("case %d: %s by %s (api)", case_id, action.action, principal.name)
    return _case(view)


# -- sources and digests ----------------------------------------------------------------------


@router.get(
    "/sources", response_model=list[m.Source], tags=["sources"], summary="Nguồn tin / Sources"
)
def list_sources(request: Request, principal: Viewer) -> list[m.Source]:
    """Sources with their health, latest run and items stored."""
    with _monitor(request).sessions() as session:
        found = apiqueries.sources(session, principal.scope)
    return [m.Source.model_validate(s) for s in found]


@router.get("/digests", response_model=m.DigestPage, tags=["digests"], summary="Bản tin / Digests")
def list_digests(
    request: Request,
    principal: Viewer,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> m.DigestPage:
    """Archived daily digests, the latest day first."""
    with _monitor(request).sessions() as session:
        found = apiqueries.digests(session, limit=limit, offset=offset)
    return m.DigestPage(
        digests=[m.DigestSummary.model_validate(d) for d in found], limit=limit, offset=offset
    )


@router.get(
    "/digests/{day}",
    response_model=m.Digest,
    responses=NOT_FOUND,
    tags=["digests"],
    summary="Bản tin một ngày / One day's digest",
)
def get_digest(
    request: Request,
    principal: Viewer,
    day: Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")],
) -> m.Digest:
    """One local day's digest as plain text (not its HTML)."""
    with _monitor(request).sessions() as session:
        found = apiqueries.digest(session, day)
    if found is None:
        raise _not_found(("bản tin ngày", "digest for"), day)
    return m.Digest.model_validate(found)


# -- the schema, for programs and for people --------------------------------------------------


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, principal: Viewer) -> JSONResponse:
    """The OpenAPI document of the API."""
    return JSONResponse(request.app.openapi())


@router.get("/docs", include_in_schema=False)
def docs(request: Request, principal: Viewer) -> HTMLResponse:
    """The API's documentation, rendered here from the OpenAPI document."""
    schema = request.app.openapi()
    return Page(request).render(
        "api_docs.html",
        info=schema.get("info", {}),
        operations=list(_operations(schema)),
        models=_models(schema),
    )


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(schema: dict[str, Any]) -> str:
    """A short type for a JSON schema: 'int', 'Case', 'list[Story]', 'str | null', 'a | b'."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return str(schema["const"])
    for union in ("anyOf", "oneOf", "allOf"):
        if union in schema:
            return " | ".join(type_of(part) for part in schema[union])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list[{type_of(schema.get('items', {}))}]"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"dict[str, {type_of(schema['additionalProperties'])}]"
    return str(schema.get("format", kind)) if kind == "string" and "format" in schema else str(kind)


def _operations(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            responses = op.get("responses", {})
            ok = responses.get("200", {}).get("content", {}).get("application/json", {})
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            yield {
                "id": re.sub(r"[^a-z0-9]+", "-", f"{method}-{path}".lower()).strip("-"),
                "method": method.upper(),
                "path": path,
                "summary": op.get("summary", ""),
                "description": op.get("description", ""),
                "params": [_param(p) for p in op.get("parameters", [])],
                "body": type_of(body["schema"]) if "schema" in body else None,
                "response": type_of(ok["schema"]) if "schema" in ok else None,
                "errors": [code for code in responses if code != "200"],
            }


def _param(param: dict[str, Any]) -> dict[str, Any]:
    schema = param.get("schema", {})
    limits = [
        f"{label} {schema[key]}"
        for key, label in (("minimum", "≥"), ("maximum", "≤"), ("maxLength", "≤ chars"))
        if key in schema
    ]
    return {
        "name": param.get("name", ""),
        "where": param.get("in", ""),
        "required": bool(param.get("required")),
        "type": type_of(schema),
        "default": schema.get("default"),
        "limits": ", ".join(limits),
        "description": param.get("description") or schema.get("description") or "",
    }


def _models(schema: dict[str, Any]) -> list[dict[str, Any]]:
    models = []
    for name, model in sorted(schema.get("components", {}).get("schemas", {}).items()):
        required = set(model.get("required", ()))
        fields = [
            {
                "name": field,
                "type": type_of(spec),
                "required": field in required,
                "description": spec.get("description", ""),
            }
            for field, spec in model.get("properties", {}).items()
        ]
        models.append({"name": name, "description": model.get("description", ""), "fields": fields})
    return models
