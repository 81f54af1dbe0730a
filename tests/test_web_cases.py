"""The case queue and a case's page as duty officers use them: filters and order, acting on one
case or many from the web (recorded with channel web), what viewers and scoped users may do,
and that a form post without its CSRF token changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from crawlers.base import ItemRecord
from monitor import accounts, cases, stories, surges
from monitor.bootstrap import App
from monitor.storage import db, repo
from monitor.storage import stories as story_store
from monitor.storage.models import Case, CaseEvent
from monitor.web import pages_cases
from monitor.web.app import create_web
from nlp.base import Analysis
from tests.conftest import AppFactory
from tests.webkit import PASSWORD, Clock, WebClient, csrf_of, sign_in, web_client

ROW = re.compile(r'<tr data-case-id="(\d+)"')
SOURCES = [
    {"id": "so-a", "kind": "rss", "url": "https://a.example.vn/rss"},
    {"id": "so-b", "kind": "rss", "url": "https://b.example.vn/rss"},
]


def open_case(app: App, url: str, severity: str, title: str, source: str = "manual") -> int:
    """An item stored, analysed and grouped as the pipeline does, with its story's case opened
    (at "watch" too, so every severity can be queued); returns the case id."""
    found = Analysis("test", True, 0.9, severity=severity, topic="public_order",
                     sentiment="negative", reasons=[f"lý do {severity}"])  # fmt: skip
    with db.transaction(app.sessions) as session:
        [(item_id, _)] = repo.ingest(session, source, [ItemRecord(url, url, title, title)]).new
        repo.save_analyses(session, [(item_id, found)])
        [done] = story_store.assign(session, [item_id], stories.policy_of(app.settings.stories))
        repo.open_or_update_case(
            session, done.story_id, item_id, found, case_severity="watch",
            due=cases.due_map(app.settings),
        )  # fmt: skip
        case_id = session.scalar(select(Case.id).where(Case.story_id == done.story_id))
    assert case_id is not None
    return case_id


def open_surge(app: App, key: str = "Giao Thủy") -> int:
    """A surge case, opened as the surge job opens it."""
    surge = surges.Surge("place", key, datetime.now(UTC), 9, 0.5, 9, 0.2, False, True)
    with db.transaction(app.sessions) as session:
        [(_, opened)] = surges.record(session, app.settings, [surge], datetime.now(UTC))
    return opened.case_id


def act(app: App, case_id: int, action: str, **kw: str) -> None:
    with db.transaction(app.sessions) as session:
        cases.transition(session, case_id, action, actor="someone", channel="cli", **kw)  # type: ignore[arg-type]


def status_of(app: App, case_id: int) -> str:
    return cases.show(app.sessions, case_id).case.status


def events_of(app: App, case_id: int) -> int:
    with app.sessions() as session:
        return int(session.scalar(select(func.count()).where(CaseEvent.case_id == case_id)) or 0)


def rows(html: str) -> list[int]:
    return [int(n) for n in ROW.findall(html)]


def row_html(html: str, case_id: int) -> str:
    start = html.index(f'<tr data-case-id="{case_id}"')
    return html[start : html.index("</tr>", start)]


def flash(html: str) -> str:
    found = re.search(r'<p class="flash (ok|error)" role="status">(.*?)</p>', html, re.S)
    assert found, "no flash message on the page"
    return f"{found.group(1)}: {found.group(2)}"


def outcome(response_location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(response_location).query)


@pytest.fixture
def app(make_app: AppFactory) -> App:
    return make_app(SOURCES)


@pytest.fixture
def analyst(app: App) -> WebClient:
    return web_client(app, "chuyenvien.lan", "analyst")


@pytest.fixture
def seeded(app: App) -> dict[str, int]:
    """Cases of each severity, a closed one and a surge."""
    made = {
        "watch": open_case(app, "https://a.vn/1", "watch", "Ý kiến về chợ Rồng"),
        "critical": open_case(app, "https://a.vn/2", "critical", "Vỡ đê ở Giao Thủy"),
        "alert": open_case(app, "https://a.vn/3", "alert", "Ngập úng ở Ý Yên"),
        "closed": open_case(app, "https://a.vn/4", "critical", "Cháy chợ đã dập tắt"),
        "surge": open_surge(app),
    }
    act(app, made["closed"], "resolve")
    return made


# --- the queue ----------------------------------------------------------------------------------


def test_the_queue_lists_open_cases_most_severe_first_and_its_filters_work(
    app: App, analyst: WebClient, seeded: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    page = analyst.get("/cases")
    assert page.status_code == 200
    listed = rows(page.text)
    assert seeded["closed"] not in listed  # open cases by default
    ours = [c for c in listed if c != seeded["surge"]]
    assert ours == [seeded["critical"], seeded["alert"], seeded["watch"]]
    first = row_html(page.text, seeded["critical"])
    assert '<span class="sev critical">' in first and "Vỡ đê ở Giao Thủy" in first
    assert f'href="/cases/{seeded["critical"]}"' in first and "mới" in first
    assert f'name="case_ids" value="{seeded["critical"]}"' in first

    def shown(query: str) -> set[int]:
        answer = analyst.get(f"/cases?{query}")
        assert answer.status_code == 200, answer.text[:300]
        return set(rows(answer.text))

    assert shown("status=resolved") == {seeded["closed"]}
    assert shown("status=all") == set(seeded.values())
    assert shown("severity=alert") - {seeded["surge"]} == {seeded["critical"], seeded["alert"]}
    assert shown("status=all&severity=critical&kind=story") == {
        seeded["critical"], seeded["closed"]
    }  # fmt: skip
    assert shown("kind=surge") == {seeded["surge"]}

    act(app, seeded["watch"], "assign", assignee=analyst.name)
    act(app, seeded["alert"], "assign", assignee="binh")
    assert shown("assignee=mine") == {seeded["watch"]}
    assert shown("assignee=binh") == {seeded["alert"]}
    assert shown("assignee=none") == {seeded["critical"], seeded["surge"]}

    with db.transaction(app.sessions) as session:
        past = datetime.now(UTC) - timedelta(hours=1)
        session.execute(update(Case).where(Case.id == seeded["alert"]).values(due_at=past))
    assert shown("overdue=true") == {seeded["alert"]}
    assert 'class="overdue"' in row_html(analyst.get("/cases").text, seeded["alert"])
    assert analyst.get("/cases?status=bogus").status_code == 422

    monkeypatch.setattr(pages_cases, "PAGE_SIZE", 2)
    one = analyst.get("/cases?status=all")
    more = re.search(r'href="(/cases\?[^"]*offset=2)" rel="next"', one.text)
    assert len(rows(one.text)) == 2 and more, one.text
    two = analyst.get(more.group(1).replace("&amp;", "&"))
    three = analyst.get("/cases?status=all&offset=4")
    assert len(rows(two.text)) == 2 and len(rows(three.text)) == 1
    assert set(rows(one.text) + rows(two.text) + rows(three.text)) == set(seeded.values())
    assert 'rel="next"' not in three.text


# --- acting on one case -------------------------------------------------------------------------


def test_an_analyst_acknowledges_with_a_note_and_the_audit_trail_shows_it(
    app: App, analyst: WebClient, seeded: dict[str, int]
) -> None:
    case_id = seeded["critical"]
    page = analyst.get(f"/cases/{case_id}")
    assert 'id="note"' in page.text and f'action="/cases/{case_id}/act"' in page.text
    assert re.search(r'<button type="submit" name="action" value="ack"', page.text)
    assert 'value="reopen"' not in page.text  # only what a new case allows

    done = analyst.post(
        f"/cases/{case_id}/act",
        {"action": "ack", "note": "Đã gọi UBND huyện Giao Thủy", "next": f"/cases/{case_id}"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/cases/{case_id}?done=ack&case={case_id}"
    assert status_of(app, case_id) == "acknowledged"

    after = analyst.get(done.headers["location"])
    assert flash(after.text) == f"ok: Sự vụ #{case_id} đã nhận."
    trail = after.text[after.text.index('id="trail"') :]
    entry = re.search(r'<tr data-action="acknowledged">(.*?)</tr>', trail, re.S)
    assert entry, trail
    assert "chuyenvien.lan" in entry.group(1) and 'data-channel="web"' in entry.group(1)
    assert "Đã gọi UBND huyện Giao Thủy" in entry.group(1)
    assert "mới → đã nhận" in entry.group(1)
    [event] = [e for e in cases.show(app.sessions, case_id).events if e.action == "acknowledged"]
    assert (event.actor, event.channel, event.note) == (
        "chuyenvien.lan", "web", "Đã gọi UBND huyện Giao Thủy"
    )  # fmt: skip


def test_a_refused_or_incomplete_action_says_why_and_returns_to_the_queue(
    app: App, analyst: WebClient, seeded: dict[str, int]
) -> None:
    closed, new = seeded["closed"], seeded["critical"]
    refused = analyst.post(
        f"/cases/{closed}/act", {"action": "ack", "next": "/cases?status=all&kind=story"}
    )
    assert refused.status_code == 303
    where = urlsplit(refused.headers["location"])
    assert where.path == "/cases" and outcome(refused.headers["location"])["kind"] == ["story"]
    message = flash(analyst.get(refused.headers["location"]).text)
    assert message.startswith("error: Không thể nhận (ack) sự vụ")
    assert f"Cannot ack case #{closed}: it is resolved" in message

    no_name = analyst.post(f"/cases/{new}/act", {"action": "assign", "assignee": "  "})
    assert flash(analyst.get(no_name.headers["location"]).text).startswith("error: Hãy ghi tên")
    no_note = analyst.post(f"/cases/{new}/act", {"action": "note"})
    assert outcome(no_note.headers["location"])["error"] == ["note"]
    bogus = analyst.post(f"/cases/{new}/act", {"action": "delete"})
    assert outcome(bogus.headers["location"])["error"] == ["action"]
    assert status_of(app, new) == "new"

    assigned = analyst.post(f"/cases/{new}/act", {"action": "assign", "assignee": "binh"})
    assert outcome(assigned.headers["location"])["done"] == ["assign"]
    assert cases.show(app.sessions, new).case.assignee == "binh"

    elsewhere = analyst.post(f"/cases/{new}/act", {"action": "note", "note": "x",
                                                    "next": "https://evil.example/"})  # fmt: skip
    assert urlsplit(elsewhere.headers["location"]).netloc == ""
    assert elsewhere.headers["location"].startswith("/?")
    assert (
        analyst.post("/cases/999999/act", {"action": "ack"})
        .headers["location"]
        .startswith("/cases/999999?error=missing")
    )
    assert analyst.get("/cases/999999").status_code == 404


# --- bulk actions -------------------------------------------------------------------------------


def test_bulk_resolve_of_three_cases_one_already_closed_does_two_and_says_why_not_the_third(
    app: App, analyst: WebClient, seeded: dict[str, int]
) -> None:
    chosen = [seeded["critical"], seeded["closed"], seeded["alert"]]
    trail_before = events_of(app, seeded["closed"])
    answer = analyst.post(
        "/cases/bulk",
        {"case_ids": [str(c) for c in chosen], "action": "resolve", "note": "Đã xử lý xong",
         "next": "/cases?status=all"},
    )  # fmt: skip
    assert answer.status_code == 303
    sent = outcome(answer.headers["location"])
    assert sent["ok"] == ["2"] and sent["refused"] == [f"{seeded['closed']}:resolved"]

    assert status_of(app, seeded["critical"]) == status_of(app, seeded["alert"]) == "resolved"
    assert events_of(app, seeded["closed"]) == trail_before
    notes = [e.note for e in cases.show(app.sessions, seeded["alert"]).events if e.channel]
    assert notes == ["Đã xử lý xong"]

    page = analyst.get(answer.headers["location"] + "&lang=en")
    assert flash(page.text) == f"error: 2 cases resolved; 1 refused (#{seeded['closed']})."
    refusals = page.text[page.text.index('id="refusals"') :]
    assert f"Cannot resolve case #{seeded['closed']}: it is resolved" in refusals

    again = analyst.post("/cases/bulk", {"case_ids": [str(seeded["watch"]), "999999"],
                                         "action": "ack"})  # fmt: skip
    assert outcome(again.headers["location"]) == {
        "done": ["bulk"], "action": ["ack"], "ok": ["1"], "refused": ["999999:missing"]
    }  # fmt: skip
    text = analyst.get(again.headers["location"] + "&lang=vi").text
    assert "Không có sự vụ #999999" in text
    nothing = analyst.post("/cases/bulk", {"action": "resolve"})
    assert outcome(nothing.headers["location"])["error"] == ["none"]


# --- who may do what ----------------------------------------------------------------------------


def test_a_viewer_sees_no_action_controls_and_their_posts_are_refused(
    app: App, seeded: dict[str, int]
) -> None:
    viewer = web_client(app, "lanhdao", "viewer")
    case_id = seeded["critical"]
    queue = viewer.get("/cases")
    assert case_id in rows(queue.text)
    assert "/act" not in queue.text and 'name="case_ids"' not in queue.text
    assert 'id="bulk"' not in queue.text
    page = viewer.get(f"/cases/{case_id}")
    assert page.status_code == 200 and 'id="note"' not in page.text and "/act" not in page.text

    forged: list[tuple[str, dict[str, object]]] = [
        (f"/cases/{case_id}/act", {"action": "ack", "note": "giả mạo"}),
        ("/cases/bulk", {"action": "resolve", "case_ids": [str(case_id)]}),
    ]
    for path, data in forged:
        refused = viewer.post(path, data)
        assert refused.status_code == 403 and "This needs the analyst role" in refused.text
    assert status_of(app, case_id) == "new"


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    app: App, analyst: WebClient, seeded: dict[str, int]
) -> None:
    case_id = seeded["critical"]
    before = events_of(app, case_id)
    for path, data in (
        (f"/cases/{case_id}/act", {"action": "resolve"}),
        ("/cases/bulk", {"action": "resolve", "case_ids": str(case_id)}),
    ):
        bare = analyst.client.post(path, data=data)
        wrong = analyst.client.post(path, data={**data, "csrf": "x" * 43})
        assert bare.status_code == wrong.status_code == 403
    assert status_of(app, case_id) == "new" and events_of(app, case_id) == before


def test_a_user_scoped_to_one_source_sees_and_acts_on_its_cases_only(app: App) -> None:
    mine = open_case(app, "https://a.example.vn/1", "alert", "Tin của nguồn A", source="so-a")
    theirs = open_case(app, "https://b.example.vn/1", "critical", "Tin của nguồn B", "so-b")
    surge = open_surge(app)
    accounts.add_user(app.sessions, "phong.a", "analyst", PASSWORD, sources=("so-a",))
    client = TestClient(create_web(app, clock=Clock()), follow_redirects=False)
    sign_in(client, "phong.a")
    scoped = WebClient(client, "phong.a", "analyst", csrf_of(client.get("/cases").text))

    assert rows(scoped.get("/cases?status=all").text) == [mine]
    assert surge not in rows(scoped.get("/cases?kind=surge").text)
    assert scoped.get(f"/cases/{theirs}").status_code == 404
    assert scoped.get(f"/cases/{mine}").status_code == 200
    refused = scoped.post(f"/cases/{theirs}/act", {"action": "ack"})
    assert outcome(refused.headers["location"])["error"] == ["missing"]
    bulk = scoped.post("/cases/bulk", {"case_ids": [str(mine), str(theirs)], "action": "ack"})
    assert outcome(bulk.headers["location"])["refused"] == [f"{theirs}:missing"]
    assert (status_of(app, mine), status_of(app, theirs)) == ("acknowledged", "new")

    for case_id, visible in ((mine, 200), (theirs, 404)):
        case = cases.show(app.sessions, case_id).case
        assert scoped.get(f"/items/{case.item_id}").status_code == visible
        assert scoped.get(f"/stories/{case.story_id}").status_code == visible
