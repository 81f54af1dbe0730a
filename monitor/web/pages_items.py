"""A story with all its copies, an item with its analysis and corrections, and manual intake.

An item's text is shown as plain text and its URL only through ``outlink``: what was crawled is
never markup. Analysts correct an item's relevance, topic, sentiment or severity through
``monitor.feedback.correct`` (stored as a label, shown over the analyser's value, trained on by
``monitor nlp train``) and submit a URL or a pasted post through ``monitor.intake.submit``.

A user limited to some sources sees an item of those sources, or one they submitted themselves
(the manual source may be outside their scope), and a story with at least one such copy.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from monitor import feedback, intake
from monitor.accounts import Principal
from monitor.feedback import FeedbackError, LabelRow
from monitor.storage import casequeue
from monitor.web.auth import need, now_of
from monitor.web.pages_cases import names
from monitor.web.render import Page

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
INTAKE_KINDS = ("social", "forum", "news", "manual")
FIELD_NAMES = {
    "relevant": ("Liên quan", "Relevance"),
    "topic": ("Chủ đề", "Topic"),
    "sentiment": ("Sắc thái", "Sentiment"),
    "severity": ("Mức độ", "Severity"),
}
RELEVANT_NAMES = {
    "true": ("Có liên quan", "Relevant"),
    "false": ("Không liên quan", "Not relevant"),
}
ITEM_FLASH = {
    "feedback": ("Đã lưu sửa đổi.", "The correction is saved."),
    "intake_new": ("Đã lưu và phân tích tin mới.", "Stored as a new item and analysed."),
    "intake_known": (
        "Tin này đã có; đây là bản đã lưu và phân tích.",
        "This was already stored; here it is with its analysis.",
    ),
}
Analyst = Annotated[Principal, Depends(need("analyst"))]


def _principal(page: Page) -> Principal:
    if page.principal is None:  # the app-wide dependency already refused anonymous requests
        raise HTTPException(401)
    return page.principal


def _not_found(page: Page, what: str, number: int) -> HTTPException:
    vi = {"item": "tin", "story": "câu chuyện"}[what]
    return HTTPException(404, page.t(f"Không có {vi} #{number}.", f"No {what} #{number}."))


@router.get("/stories/{story_id}")
def story(request: Request, story_id: int) -> HTMLResponse:
    """A story: when it was seen, its copies with their outlets, severity, sentiment, its case."""
    page = Page(request)
    found = casequeue.story_page(page.monitor.sessions, story_id, _principal(page).scope)
    if found is None:
        raise _not_found(page, "story", story_id)
    return page.render("story.html", story=found, **names(page))


# --- an item ------------------------------------------------------------------------------------


def value_name(page: Page, field: str, value: str | None) -> str:
    """A field's value as the page shows it (relevance "true" as "Relevant", a topic's name)."""
    if value is None:
        return "—"
    if field == "relevant":
        pair = RELEVANT_NAMES.get({"yes": "true", "no": "false"}.get(value, value))
        return page.t(*pair) if pair else value
    if field == "topic":
        name = page.monitor.settings.topics.get(value)
        return f"{name} ({value})" if name else value
    if field == "sentiment":
        return page.sentiment(value)
    if field == "severity":
        return page.severity(value)
    return value


def _choices(page: Page) -> dict[str, list[tuple[str, str]]]:
    """Each correctable field's allowed values with their names, for the feedback forms."""
    return {
        field: [
            (value, value_name(page, field, value))
            for value in feedback.allowed_values(page.monitor.settings, field)
        ]
        for field in feedback.FIELDS
    }


def _visible(item: casequeue.ItemPage, principal: Principal) -> bool:
    scope = principal.scope
    return scope is None or item.source_id in scope or item.submitted_by == principal.name


def _item(page: Page, item_id: int) -> casequeue.ItemPage:
    found = casequeue.item_page(page.monitor.sessions, item_id)
    if found is None or not _visible(found, _principal(page)):
        raise _not_found(page, "item", item_id)
    return found


def _item_flash(page: Page, request: Request) -> str | None:
    done = request.query_params.get("done", "")
    if done not in ITEM_FLASH:
        return None
    message = page.t(*ITEM_FLASH[done])
    if request.query_params.get("opened") == "1":
        message += " " + page.t("Đã mở sự vụ.", "A case was opened.")
    return message


def _render_item(
    page: Page,
    item: casequeue.ItemPage,
    *,
    flash: str | None = None,
    flash_kind: str = "ok",
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    history: list[LabelRow] = feedback.history(page.monitor, item.id)
    current: dict[str, LabelRow] = {}
    for label in history:  # newest first: the first of each field is the one in force
        current.setdefault(label.field, label)
    return page.render(
        "item.html",
        status_code=status_code,
        item=item,
        analysis=item.analysis,
        shown=feedback.effective(item.analysis or {}, current),
        history=history,
        fields=feedback.FIELDS,
        field_name=lambda f: page.t(*FIELD_NAMES.get(f, (f, f))),
        value_name=lambda f, v: value_name(page, f, v),
        choices=_choices(page),
        can_act=_principal(page).can("analyst"),
        form=form or {},
        flash=flash,
        flash_kind=flash_kind,
        **names(page),
    )


@router.get("/items/{item_id}")
def item(request: Request, item_id: int) -> HTMLResponse:
    """An item: source, link, times, text as plain text, analysis, corrections, story and case."""
    page = Page(request)
    return _render_item(page, _item(page, item_id), flash=_item_flash(page, request))


@router.post("/items/{item_id}/feedback")
def correct(
    request: Request,
    item_id: int,
    principal: Analyst,
    field: Annotated[str, Form(max_length=16)],
    value: Annotated[str, Form(max_length=64)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Store an analyst's correction of one field; a refused one shows why, on the item's page."""
    page = Page(request)
    found = _item(page, item_id)
    try:
        feedback.correct(
            page.monitor, item_id, field, value, author=principal.name, note=note,
            now=now_of(request),
        )  # fmt: skip
    except FeedbackError as exc:
        form = {"field": field, "value": value, "note": note}
        return _render_item(
            page, found, flash=str(exc), flash_kind="error", status_code=422, form=form
        )
    except KeyError:
        raise _not_found(page, "item", item_id) from None
    return RedirectResponse(f"/items/{item_id}?done=feedback#feedback", status_code=303)


# --- manual intake ------------------------------------------------------------------------------


def _intake_page(
    page: Page, *, error: str | None = None, form: dict[str, str] | None = None
) -> HTMLResponse:
    return page.render(
        "intake.html",
        status_code=422 if error else 200,
        kinds=INTAKE_KINDS,
        form=form or {},
        flash=error,
        flash_kind="error",
    )


@router.get("/intake")
def intake_form(request: Request, _principal: Analyst) -> HTMLResponse:
    """The form to submit a URL, or the text of a post a citizen reported."""
    return _intake_page(Page(request))


@router.post("/intake")
def submit(
    request: Request,
    principal: Analyst,
    url: Annotated[str, Form(max_length=2000)] = "",
    text: Annotated[str, Form(max_length=100_000)] = "",
    title: Annotated[str, Form(max_length=500)] = "",
    kind: Annotated[Literal["", "social", "forum", "news", "manual"], Form()] = "",
) -> Response:
    """Analyse and store a submission, then show the item (or the form again, saying why not)."""
    page = Page(request)
    form = {"url": url, "text": text, "title": title, "kind": kind}
    pasted, link = (text if text.strip() else None), (url.strip() or None)
    if pasted is None and link is None:
        message = page.t(
            "Hãy dán đường dẫn hoặc nội dung bài viết.", "Give a URL or paste the text of the post."
        )
        return _intake_page(page, error=message, form=form)
    result = intake.submit(
        page.monitor,
        url=link,
        text=pasted,
        title=title.strip() or None,
        kind=kind or ("social" if pasted is not None else "manual"),
        submitted_by=principal.name,
    )
    if not result.ok or result.item is None:
        reason = result.error or "?"
        message = page.t(f"Không nhận được tin: {reason}", f"Not accepted: {reason}")
        return _intake_page(page, error=message, form=form)
    done = "intake_new" if result.new else "intake_known"
    opened = "&opened=1" if result.cases_opened else ""
    logger.info("%s submitted item %d on the web", principal.name, result.item.id)
    return RedirectResponse(f"/items/{result.item.id}?done={done}{opened}", status_code=303)
