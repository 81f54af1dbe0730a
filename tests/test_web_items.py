"""Story and item pages, analyst feedback and manual intake from the web: every copy of a story,
crawled markup shown as inert text, corrections stored and shown (or refused, saying why), and a
pasted post analysed, stored and turned into a case when it is serious."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from crawlers.base import ItemRecord
from monitor import stories
from monitor.bootstrap import App
from monitor.storage import db, repo
from monitor.storage.models import Case, Item, Label
from nlp.base import Analysis
from tests.conftest import AppFactory
from tests.test_intake import PASTED
from tests.test_stories import FIRE, KEYWORD, body, flag, store, syndicated
from tests.webkit import WebClient, web_client

HOSTILE = "<script>alert(1)</script>"
COPY = re.compile(r'<tr data-item-id="(\d+)"')


def stored(app: App, record: ItemRecord, found: Analysis | None = None) -> int:
    """One item stored (and analysed, grouped and maybe a case opened) as the pipeline does."""
    with db.transaction(app.sessions) as session:
        [(item_id, _)] = repo.ingest(session, "manual", [record]).new
        if found is not None:
            repo.save_analyses(session, [(item_id, found)])
            stories.on_analysed(session, app.settings, [(item_id, found)], {item_id})
    return item_id


def flash(html: str) -> str:
    found = re.search(r'<p class="flash (ok|error)" role="status">(.*?)</p>', html, re.S)
    assert found, "no flash message on the page"
    return f"{found.group(1)}: {found.group(2)}"


def labels(app: App) -> list[Label]:
    with app.sessions() as session:
        return list(session.scalars(select(Label).order_by(Label.id)))


@pytest.fixture
def app(make_app: AppFactory) -> App:
    return make_app([], **KEYWORD)


@pytest.fixture
def analyst(app: App) -> WebClient:
    return web_client(app, "chuyenvien.lan", "analyst")


@pytest.fixture
def item_id(app: App) -> int:
    """A relevant, negative item about public order, analysed at "watch"."""
    found = Analysis("test", True, 0.87, severity="watch", topic="public_order",
                     sentiment="negative", sentiment_score=0.91,
                     reasons=["nêu địa danh Giao Thủy", "sắc thái tiêu cực"])  # fmt: skip
    record = ItemRecord("https://baonamdinh.vn/de-bien.html", "https://baonamdinh.vn/de-bien.html",
                        "Sạt lở đê biển Giao Thủy", "Đoạn đê biển dài 50 m bị sạt lở.")  # fmt: skip
    return stored(app, record, found)


# --- an item and its story ----------------------------------------------------------------------


def test_crawled_markup_and_a_javascript_url_are_shown_as_inert_text(
    app: App, analyst: WebClient
) -> None:
    found = Analysis("test", True, 0.9, severity="critical", topic="public_order",
                     sentiment="negative", reasons=[f"tiêu đề có {HOSTILE}"])  # fmt: skip
    record = ItemRecord("javascript:alert(1)", "javascript:alert(1)", f"{HOSTILE} Cháy chợ",
                        f"Nội dung {HOSTILE} <img src=x onerror=alert(2)>", kind="social")  # fmt: skip
    item_id = stored(app, record, found)
    with app.sessions() as session:
        case_id = session.scalar(select(Case.id))
        story_id = session.scalar(select(Item.story_id).where(Item.id == item_id))
    assert case_id is not None and story_id is not None

    for path in (f"/items/{item_id}", f"/stories/{story_id}", f"/cases/{case_id}", "/cases"):
        page = analyst.get(path)
        assert page.status_code == 200, path
        assert HOSTILE not in page.text and "<img src=x" not in page.text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, path
        assert not re.search(r"href=\"\s*javascript:", page.text, re.I), path
    item = analyst.get(f"/items/{item_id}").text
    text = re.search(r'<pre class="text">(.*?)</pre>', item, re.S)
    assert text and text.group(1) == (
        "Nội dung &lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt;"
    )
    assert "javascript:alert(1)" in item  # the address is shown, as text


def test_the_item_page_shows_source_link_analysis_reasons_story_and_case(
    app: App, analyst: WebClient, item_id: int
) -> None:
    page = analyst.get(f"/items/{item_id}?lang=en")
    assert page.status_code == 200
    assert (
        '<a href="https://baonamdinh.vn/de-bien.html" target="_blank" rel="noopener noreferrer">'
        in page.text
    )
    analysis = page.text[page.text.index('id="analysis"') : page.text.index('id="feedback"')]
    assert "0.87" in analysis and "0.91" in analysis and "Negative" in analysis
    assert (
        "<li>nêu địa danh Giao Thủy</li>" in analysis and "<li>sắc thái tiêu cực</li>" in analysis
    )
    assert "public_order" in analysis
    with app.sessions() as session:
        story_id = session.scalar(select(Item.story_id).where(Item.id == item_id))
    assert f'href="/stories/{story_id}"' in page.text
    assert 'id="item-case"' not in page.text  # "watch" opens no case
    assert analyst.get("/items/999999").status_code == 404


def test_the_story_page_lists_every_copy_with_its_outlet_and_the_case(
    app: App, analyst: WebClient
) -> None:
    copy_title, copy_text = syndicated(FIRE)
    urls = ["https://baonamdinh.vn/chay-cho.html", "https://tinmoi.example.vn/chay.html",
            "https://news.example.com/cho-con.html"]  # fmt: skip
    store(
        app,
        (urls[0], FIRE["title"], body(FIRE), flag("alert")),
        (urls[1], copy_title, copy_text, flag("alert")),
        (urls[2], FIRE["title"], body(FIRE) + "\n\nNguồn: Báo Nam Định.", flag("watch")),
    )
    with app.sessions() as session:
        items = dict(session.execute(select(Item.url, Item.id)).all())
        [story_id] = set(session.scalars(select(Item.story_id)))
        case_id = session.scalar(select(Case.id).where(Case.story_id == story_id))

    page = analyst.get(f"/stories/{story_id}")
    assert page.status_code == 200
    assert sorted(int(n) for n in COPY.findall(page.text)) == sorted(items.values())
    for url in urls:
        assert f'<a href="{url}" target="_blank" rel="noopener noreferrer">' in page.text
    for outlet in ("baonamdinh.vn", "tinmoi.example.vn", "news.example.com"):
        assert f"<td>{outlet}</td>" in page.text
    assert '<dd id="story-items">3</dd>' in page.text
    assert re.search(r'<dd id="story-outlets">3\b', page.text)
    assert f'<a href="/cases/{case_id}" id="story-case">' in page.text
    assert analyst.get("/stories/999999").status_code == 404


# --- feedback -----------------------------------------------------------------------------------


def test_a_correction_is_stored_as_a_label_and_shown_on_the_item(
    app: App, analyst: WebClient, item_id: int
) -> None:
    form = analyst.get(f"/items/{item_id}").text
    assert f'action="/items/{item_id}/feedback"' in form
    for field in ("relevant", "topic", "sentiment", "severity"):
        assert f'data-field="{field}"' in form

    done = analyst.post(
        f"/items/{item_id}/feedback",
        {"field": "topic", "value": "land_planning", "note": "Tranh chấp đất đai"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/items/{item_id}?done=feedback#feedback"
    [label] = labels(app)
    assert (label.field, label.value, label.previous, label.author, label.note) == (
        "topic", "land_planning", "public_order", "chuyenvien.lan", "Tranh chấp đất đai"
    )  # fmt: skip

    page = analyst.get(done.headers["location"])
    assert flash(page.text) == "ok: Đã lưu sửa đổi."
    row = re.search(
        rf'<tr data-label-id="{label.id}" data-field="topic">(.*?)</tr>', page.text, re.S
    )
    assert row, page.text
    topics = app.settings.topics
    assert "chuyenvien.lan" in row.group(1) and "Tranh chấp đất đai" in row.group(1)
    assert f"{topics['public_order']} (public_order) → <strong>" in row.group(1)
    assert f"{topics['land_planning']} (land_planning)</strong>" in row.group(1)
    shown = re.search(r'<tr data-field="topic">(.*?)</tr>', page.text, re.S)
    assert shown and "sửa bởi chuyenvien.lan" in shown.group(1)
    assert f"{topics['land_planning']} (land_planning)" in shown.group(1)


def test_a_bad_correction_shows_the_reason_and_stores_nothing(
    app: App, analyst: WebClient, item_id: int
) -> None:
    bad = analyst.post(f"/items/{item_id}/feedback", {"field": "sentiment", "value": "giận dữ"})
    assert bad.status_code == 422
    message = flash(bad.text)
    assert message.startswith("error: Giá trị “giận dữ” không hợp lệ cho sắc thái (sentiment)")
    assert "negative, neutral, positive" in message
    unknown = analyst.post(f"/items/{item_id}/feedback", {"field": "title", "value": "x"})
    assert unknown.status_code == 422 and "Unknown field &#39;title&#39;" in unknown.text
    assert labels(app) == []
    gone = analyst.post("/items/999999/feedback", {"field": "severity", "value": "alert"})
    assert gone.status_code == 404


def test_a_viewer_reads_items_but_cannot_correct_or_submit(app: App, item_id: int) -> None:
    viewer = web_client(app, "lanhdao", "viewer")
    page = viewer.get(f"/items/{item_id}")
    assert page.status_code == 200 and "/feedback" not in page.text
    assert 'href="/intake"' not in page.text
    refused = viewer.post(f"/items/{item_id}/feedback", {"field": "severity", "value": "none"})
    assert refused.status_code == 403 and labels(app) == []
    assert viewer.get("/intake").status_code == 403
    assert viewer.post("/intake", {"text": PASTED}).status_code == 403
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 1


# --- manual intake ------------------------------------------------------------------------------


def test_a_pasted_post_is_stored_analysed_and_opens_a_case(app: App, analyst: WebClient) -> None:
    form = analyst.get("/intake")
    assert form.status_code == 200 and 'action="/intake"' in form.text

    sent = analyst.post("/intake", {"text": PASTED, "title": "", "url": "", "kind": ""})
    assert sent.status_code == 303
    location = sent.headers["location"]
    with app.sessions() as session:
        [item] = session.scalars(select(Item)).all()
        case_id = session.scalar(select(Case.id))
        assert (item.kind, item.meta["submitted_by"]) == ("social", "chuyenvien.lan")
    assert case_id is not None
    assert location == f"/items/{item.id}?done=intake_new&opened=1"

    page = analyst.get(location)
    assert flash(page.text) == "ok: Đã lưu và phân tích tin mới. Đã mở sự vụ."
    assert "Giao Thủy" in page.text and f'href="/cases/{case_id}" id="item-case"' in page.text
    severity = re.search(r'<tr data-field="severity">\s*<td>[^<]*</td>\s*<td><span class="sev (\w+)"',
                         page.text)  # fmt: skip
    assert severity and severity.group(1) in ("alert", "critical")
    assert re.search(r'<ul class="reasons"><li>[^<]+</li>', page.text)

    again = analyst.post("/intake", {"text": PASTED + "  "})
    assert again.headers["location"] == f"/items/{item.id}?done=intake_known"


def test_a_refused_submission_shows_the_reason_and_keeps_what_was_typed(
    app: App, analyst: WebClient
) -> None:
    private = analyst.post("/intake", {"url": "http://127.0.0.1:9/noi-bo.html", "title": "Nội bộ"})
    assert private.status_code == 422
    assert "not a public address" in flash(private.text)
    assert 'value="http://127.0.0.1:9/noi-bo.html"' in private.text
    empty = analyst.post("/intake", {"text": "   "})
    assert empty.status_code == 422
    assert flash(empty.text) == "error: Hãy dán đường dẫn hoặc nội dung bài viết."
    bad_kind = analyst.post("/intake", {"text": PASTED, "kind": "tweet"})
    assert bad_kind.status_code == 422
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 0
