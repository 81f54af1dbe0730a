"""The case queue and a case's page: filters, the workflow's actions (one case or many), the audit trail.

Every change goes through ``monitor.cases.transition`` with channel "web" and the signed-in user
as actor, one transaction per case, so one refused case never stops the others of a bulk action.
After a change the browser is sent back (303) to where it was, with the outcome in the query
(``done=``/``error=`` and ids, never free text): the page rebuilds the message from those codes,
so a crafted link can only show the app's own wording.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from monitor import cases
from monitor.accounts import Principal
from monitor.bootstrap import App
from monitor.storage import casequeue, db
from monitor.web.auth import need, now_of
from monitor.web.pages_auth import safe_next
from monitor.web.render import Page
from nlp.base import SEVERITIES

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
MAX_BULK = 500
KINDS = ("item", "story", "source", "surge")
STATUS_NAMES = {
    status: (cases.STATUS_LABELS[status], english)
    for status, english in (
        ("new", "new"),
        ("acknowledged", "acknowledged"),
        ("in_progress", "in progress"),
        ("resolved", "resolved"),
        ("dismissed", "dismissed"),
    )
}
KIND_NAMES = {
    "item": ("tin", "item"),
    "story": ("câu chuyện", "story"),
    "source": ("nguồn tin", "source"),
    "surge": ("tăng đột biến", "surge"),
}
# The buttons (an imperative) and what the flash says was done (a past tense).
ACTION_NAMES = {
    "ack": ("Nhận", "Acknowledge"),
    "start": ("Bắt đầu xử lý", "Start"),
    "assign": ("Giao", "Assign"),
    "resolve": ("Đã xong", "Resolve"),
    "dismiss": ("Bỏ qua", "Dismiss"),
    "reopen": ("Mở lại", "Reopen"),
    "note": ("Ghi chú", "Add note"),
}
ACTION_DONE = {
    "ack": ("đã nhận", "acknowledged"),
    "start": ("đã bắt đầu xử lý", "started"),
    "assign": ("đã giao", "assigned"),
    "resolve": ("đã đóng là xong", "resolved"),
    "dismiss": ("đã bỏ qua", "dismissed"),
    "reopen": ("đã mở lại", "reopened"),
    "note": ("đã ghi chú", "note added"),
}
EVENT_NAMES = {
    "opened": ("mở", "opened"),
    "acknowledged": ("nhận", "acknowledged"),
    "started": ("bắt đầu xử lý", "started"),
    "assigned": ("giao", "assigned"),
    "resolved": ("đóng là xong", "resolved"),
    "dismissed": ("bỏ qua", "dismissed"),
    "reopened": ("mở lại", "reopened"),
    "noted": ("ghi chú", "note"),
    "notify": ("yêu cầu thông báo", "notification asked"),
    "notify_error": ("gửi thông báo lỗi", "notification error"),
    "notify_failed": ("gửi thông báo thất bại", "notification failed"),
    "story_grew": ("thêm bản sao", "copy added"),
    "item_updated": ("tin được cập nhật", "item updated"),
    "severity_raised": ("tăng mức độ", "severity raised"),
    "surge_continues": ("vẫn tăng đột biến", "surge continues"),
    "updated": ("cập nhật", "updated"),
}
# Query keys that carry an action's outcome; dropped from the address the next form returns to.
FLASH_KEYS = frozenset(
    {"done", "error", "case", "action", "was", "ok", "refused", "more", "opened"}
)
MISSING = "missing"  # a case that is not there, or not visible to the user
MAX_LISTED = 30  # refusals named in the address after a bulk action

StatusFilter = Literal[
    "open", "closed", "all", "new", "acknowledged", "in_progress", "resolved", "dismissed"
]
SeverityFilter = Literal["", "none", "watch", "alert", "critical"]
KindFilter = Literal["", "item", "story", "source", "surge"]


# --- naming things in the page language ---------------------------------------------------------


def status_name(page: Page, status: str) -> str:
    """A case state's name in the page language."""
    pair = STATUS_NAMES.get(status)
    return page.t(*pair) if pair else status


def named(page: Page, names: Mapping[str, tuple[str, str]], key: str) -> str:
    """``key``'s name from a (vi, en) table, the key itself when it has none."""
    pair = names.get(key)
    return page.t(*pair) if pair else key


# --- where to go back to, and what to say there -------------------------------------------------


def here(request: Request) -> str:
    """This page's address without an earlier action's outcome (a form's ``next``)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in FLASH_KEYS]
    return request.url.path + (f"?{urlencode(kept)}" if kept else "")


def back(target: str, outcome: Sequence[tuple[str, str]]) -> RedirectResponse:
    """303 to a local ``target`` with the outcome's codes in its query."""
    parts = urlsplit(safe_next(target))
    kept = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in FLASH_KEYS
    ]
    query = urlencode([*kept, *outcome])
    return RedirectResponse(urlunsplit(("", "", parts.path, query, "")), status_code=303)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A case an action was not applied to, and why (the workflow's own message)."""

    case_id: int
    message: str


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 12 else None


def refusal(page: Page, case_id: int, action: str, was: str) -> Refusal:
    """Why ``action`` was refused on a case that was in state ``was`` (or missing)."""
    if was in cases.STATUSES and action in cases.ACTIONS:
        return Refusal(case_id, str(cases.IllegalTransition(case_id, action, was)))
    return Refusal(
        case_id,
        page.t(
            f"Không có sự vụ #{case_id}, hoặc bạn không được xem.",
            f"There is no case #{case_id}, or it is not yours to see.",
        ),
    )


def refusals_of(page: Page, params: Mapping[str, str], pairs: Iterable[str]) -> list[Refusal]:
    """The refusals a bulk action listed in the address (``refused=ID:STATE``)."""
    action = params.get("action", "")
    found = []
    for pair in pairs:
        raw_id, _, was = pair.partition(":")
        case_id = _int(raw_id)
        if case_id is not None:
            found.append(refusal(page, case_id, action, was))
    return found


_ERRORS = {
    "action": ("Thao tác không hợp lệ.", "Unknown action."),
    "note": ("Hãy viết nội dung ghi chú.", "Write the note first."),
    "assignee": ("Hãy ghi tên người được giao.", "Say whom to assign the case to."),
    "none": ("Chưa chọn sự vụ nào.", "No case was selected."),
    "too_many": (
        f"Mỗi lần chỉ làm được với tối đa {MAX_BULK} sự vụ.",
        f"At most {MAX_BULK} cases at a time.",
    ),
}


def flash_of(page: Page, request: Request) -> tuple[str | None, str, list[Refusal]]:
    """The message an action left in the address: (text, 'ok'|'error', a bulk action's refusals)."""
    params = request.query_params
    done, error = params.get("done"), params.get("error")
    case_id, action = _int(params.get("case")), params.get("action", "")
    if done == "bulk" and action in cases.ACTIONS:
        listed = refusals_of(page, params, params.getlist("refused"))
        return _bulk_message(page, action, params, listed), "ok" if not listed else "error", listed
    if done in cases.ACTIONS and case_id is not None:
        vi, en = ACTION_DONE[done]
        return page.t(f"Sự vụ #{case_id} {vi}.", f"Case #{case_id} {en}."), "ok", []
    if error == "illegal" and case_id is not None:
        return refusal(page, case_id, action, params.get("was", "")).message, "error", []
    if error == MISSING and case_id is not None:
        return refusal(page, case_id, action, MISSING).message, "error", []
    if error in _ERRORS:
        return page.t(*_ERRORS[error]), "error", []
    return None, "ok", []


def _bulk_message(page: Page, action: str, params: Mapping[str, str], listed: list[Refusal]) -> str:
    ok = _int(params.get("ok")) or 0
    refused = len(listed) + (_int(params.get("more")) or 0)
    vi, en = ACTION_DONE[action]
    if not refused:
        return page.t(f"{ok} sự vụ {vi}.", f"{ok} cases {en}.")
    ids = ", ".join(f"#{r.case_id}" for r in listed)
    return page.t(
        f"{ok} sự vụ {vi}; {refused} sự vụ bị từ chối ({ids}).",
        f"{ok} cases {en}; {refused} refused ({ids}).",
    )


# --- applying actions ---------------------------------------------------------------------------


def _problem(action: str, note: str, assignee: str) -> str | None:
    """What is wrong with the form whatever the case: an error code, or None."""
    if action not in cases.ACTIONS:
        return "action"
    if action == "note" and not note.strip():
        return "note"
    if action == "assign" and not assignee.strip():
        return "assignee"
    return None


def apply(
    monitor: App,
    case_id: int,
    action: str,
    principal: Principal,
    note: str,
    assignee: str,
    request: Request,
) -> str | None:
    """Apply one action to one case in its own transaction; None when done, else the state that
    refused it (or MISSING)."""
    try:
        with db.transaction(monitor.sessions) as session:
            cases.transition(
                session,
                case_id,
                action,
                actor=principal.name,
                channel="web",
                note=note or None,
                assignee=assignee or None,
                now=now_of(request),
            )
    except cases.IllegalTransition as exc:
        return exc.status or MISSING
    except KeyError:
        return MISSING
    logger.info("case %d: %s by %s on the web", case_id, action, principal.name)
    return None


Analyst = Annotated[Principal, Depends(need("analyst"))]


@router.post("/cases/{case_id}/act")
def act(
    request: Request,
    case_id: int,
    principal: Analyst,
    action: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=5000)] = "",
    assignee: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",  # noqa: A002 - the form field's name
) -> RedirectResponse:
    """One workflow action on one case, then back where the user was."""
    target = next or f"/cases/{case_id}"
    problem = _problem(action, note, assignee)
    if problem:
        return back(target, [("error", problem)])
    monitor: App = request.app.state.monitor
    if not casequeue.visible_cases(monitor.sessions, [case_id], principal.scope):
        return back(target, [("error", MISSING), ("case", str(case_id))])
    was = apply(monitor, case_id, action, principal, note.strip(), assignee.strip(), request)
    if was is None:
        return back(target, [("done", action), ("case", str(case_id))])
    code = MISSING if was == MISSING else "illegal"
    return back(target, [("error", code), ("case", str(case_id)), ("action", action), ("was", was)])


@router.post("/cases/bulk")
def bulk(
    request: Request,
    principal: Analyst,
    action: Annotated[str, Form(max_length=16)],
    case_ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    note: Annotated[str, Form(max_length=5000)] = "",
    assignee: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",  # noqa: A002 - the form field's name
) -> RedirectResponse:
    """One workflow action on each selected case; reports how many were done and which were not."""
    target = next or "/cases"
    ids = list(dict.fromkeys(case_ids))
    problem = _problem(action, note, assignee) or (
        "none" if not ids else "too_many" if len(ids) > MAX_BULK else None
    )
    if problem:
        return back(target, [("error", problem)])
    monitor: App = request.app.state.monitor
    visible = casequeue.visible_cases(monitor.sessions, ids, principal.scope)
    done, refused = 0, []
    for case_id in ids:
        was = (
            apply(monitor, case_id, action, principal, note.strip(), assignee.strip(), request)
            if case_id in visible
            else MISSING
        )
        if was is None:
            done += 1
        else:
            refused.append((case_id, was))
    outcome = [("done", "bulk"), ("action", action), ("ok", str(done))]
    outcome += [("refused", f"{case_id}:{was}") for case_id, was in refused[:MAX_LISTED]]
    if len(refused) > MAX_LISTED:
        outcome.append(("more", str(len(refused) - MAX_LISTED)))
    return back(target, outcome)


# --- pages --------------------------------------------------------------------------------------


def _filter(
    principal: Principal, status: str, severity: str, kind: str, assignee: str, overdue: bool
) -> casequeue.QueueFilter:
    statuses = {"open": cases.OPEN, "closed": cases.CLOSED, "all": None}.get(status, (status,))
    who = assignee.strip()
    return casequeue.QueueFilter(
        statuses=statuses,
        severities=SEVERITIES[SEVERITIES.index(severity) :] if severity else None,
        kind=kind or None,
        assignee=principal.name if who == "mine" else (who or None),
        unassigned=who == "none",
        overdue=overdue,
        scope=principal.scope,
    )


def _page_link(request: Request, offset: int) -> str:
    kept = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in FLASH_KEYS and k != "offset"
    ]
    return "/cases?" + urlencode([*kept, ("offset", str(offset))])


def _principal(page: Page) -> Principal:
    if page.principal is None:  # the app-wide dependency already refused anonymous requests
        raise HTTPException(401)
    return page.principal


@router.get("/cases")
def queue(
    request: Request,
    status: Annotated[StatusFilter, Query()] = "open",
    severity: Annotated[SeverityFilter, Query()] = "",
    kind: Annotated[KindFilter, Query()] = "",
    assignee: Annotated[str, Query(max_length=100)] = "",
    overdue: Annotated[bool, Query()] = False,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HTMLResponse:
    """The queue: cases most severe first, then soonest due, filtered and paged."""
    page = Page(request)
    principal = _principal(page)
    wanted = _filter(principal, status, severity, kind, assignee, overdue)
    result = casequeue.queue(
        page.monitor.sessions, wanted, limit=PAGE_SIZE, offset=offset, now=now_of(request)
    )
    flash, flash_kind, refusals = flash_of(page, request)
    return page.render(
        "cases.html",
        result=result,
        filters={
            "status": status,
            "severity": severity,
            "kind": kind,
            "assignee": assignee,
            "overdue": overdue,
        },  # fmt: skip
        assignees=casequeue.assignees(page.monitor.sessions),
        statuses=cases.STATUSES,
        severities=SEVERITIES,
        kinds=KINDS,
        actions=list(cases.ACTIONS),
        allowed=cases.allowed_actions,
        can_act=principal.can("analyst"),
        next=here(request),
        prev_link=_page_link(request, max(offset - PAGE_SIZE, 0)) if offset else None,
        next_link=_page_link(request, offset + PAGE_SIZE) if result.has_more else None,
        flash=flash,
        flash_kind=flash_kind,
        refusals=refusals,
        **names(page),
    )


def names(page: Page) -> dict[str, Any]:
    """The naming helpers the case templates call."""
    return {
        "status_name": lambda s: status_name(page, s),
        "kind_name": lambda k: named(page, KIND_NAMES, k),
        "action_name": lambda a: named(page, ACTION_NAMES, a),
        "event_name": lambda e: named(page, EVENT_NAMES, e),
    }


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: int) -> HTMLResponse:
    """One case: where it stands, what it is about, the actions it allows, its audit trail."""
    page = Page(request)
    principal = _principal(page)
    monitor = page.monitor
    if not casequeue.visible_cases(monitor.sessions, [case_id], principal.scope):
        raise HTTPException(404, page.t(f"Không có sự vụ #{case_id}.", f"No case #{case_id}."))
    try:
        detail = cases.show(monitor.sessions, case_id, now_of(request))
    except KeyError:
        raise HTTPException(
            404, page.t(f"Không có sự vụ #{case_id}.", f"No case #{case_id}.")
        ) from None
    flash, flash_kind, _ = flash_of(page, request)
    return page.render(
        "case.html",
        detail=detail,
        case=detail.case,
        allowed=cases.allowed_actions(detail.case.status),
        can_act=principal.can("analyst"),
        next=here(request),
        flash=flash,
        flash_kind=flash_kind,
        **names(page),
    )
