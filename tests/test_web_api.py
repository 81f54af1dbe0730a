"""The JSON API: what each endpoint answers with a valid token, who is refused (no token, a wrong,
unknown or revoked one, a disabled user's), what viewers may not do, case actions and their audit
trail, source scoping, and the OpenAPI document and its page; on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from crawlers.base import ItemRecord
from monitor import accounts, cases, feedback, stories, surges
from monitor.bootstrap import App
from monitor.storage import db, digestdata, repo
from monitor.web.api_models import CaseAction
from monitor.web.app import create_web
from nlp.base import Analysis, Place
from tests.conftest import AppFactory
from tests.webkit import PASSWORD, Clock, web_client

SOURCES = [
    {"id": "baonamdinh", "kind": "rss", "url": "https://baonamdinh.vn/rss/xa-hoi.rss",
     "name": "Báo Nam Định"},
    {"id": "vnexpress", "kind": "rss", "url": "https://vnexpress.net/rss/thoi-su.rss",
     "name": "VnExpress"},
]  # fmt: skip
FIRE = "https://baonamdinh.vn/xa-hoi/chay-cho-con-hai-hau.html"
BRIDGE = "https://vnexpress.net/khanh-thanh-cau-tan-phong.html"
FLOOD = "https://vnexpress.net/ngap-lut-giao-thuy.html"
GOLD = "https://baonamdinh.vn/kinh-te/gia-vang-hom-nay.html"


def _at(day: int, hour: int = 9) -> datetime:
    """A time on a day of July 2025, given in Vietnam's time (UTC+7)."""
    return datetime(2025, 7, day, hour - 7, 0, tzinfo=UTC)


def _analysis(severity: str, sentiment: str, topic: str, place: str, *reasons: str) -> Analysis:
    return Analysis(
        "test", True, 0.9, severity=severity, places=[Place(place, "commune", 0, 5)],
        topic=topic, sentiment=sentiment, sentiment_score=0.8, reasons=list(reasons),
    )  # fmt: skip


# (source, url, title, text, published, analysis)
ITEMS: list[tuple[str, str, str, str, datetime, Analysis]] = [
    ("baonamdinh", FIRE, "Cháy lớn tại chợ Cồn, huyện Hải Hậu",
     "Rạng sáng nay một đám cháy lớn bùng phát tại chợ Cồn, thiêu rụi hàng chục ki-ốt của tiểu "
     "thương. Lực lượng cứu hỏa đã có mặt, chưa có thiệt hại về người.", _at(1),
     _analysis("alert", "negative", "public_order", "Huyện Hải Hậu", "cháy chợ: 2 từ khoá")),
    ("vnexpress", BRIDGE, "Khánh thành cầu Tân Phong nối hai bờ sông Ninh Cơ",
     "Cây cầu dài 600 mét giúp người dân đi lại thuận tiện, rút ngắn quãng đường hơn 20 km "
     "so với trước đây, tổng vốn đầu tư gần 300 tỷ đồng.", _at(2),
     _analysis("none", "positive", "infrastructure_transport", "Xã Tân Phong")),
    ("vnexpress", FLOOD, "Ngập lụt nghiêm trọng ở Giao Thủy sau bão",
     "Mưa lớn kéo dài khiến hàng trăm ngôi nhà bị ngập sâu, nhiều tuyến đê xung yếu có nguy "
     "cơ vỡ, chính quyền đang sơ tán người dân khỏi vùng trũng.", _at(3),
     _analysis("critical", "negative", "environment_disaster", "Huyện Giao Thủy", "đê: vỡ")),
    ("baonamdinh", GOLD, "Giá vàng hôm nay tăng mạnh",
     "Giá vàng miếng trong nước sáng nay tăng thêm nửa triệu đồng mỗi lượng theo đà thế giới.",
     _at(3, 10), Analysis("test", False, 0.1)),
]  # fmt: skip


@dataclass
class World:
    """An app with stored items, stories, cases and digests, and ids to find them by."""

    app: App
    clock: Clock
    items: dict[str, int]
    fire_case: int
    flood_case: int


def store_items(app: App) -> dict[str, int]:
    """Store ITEMS per source as the pipeline does (ingest, analyses, stories, cases)."""
    ids: dict[str, int] = {}
    for source, url, title, text, published, analysis in ITEMS:
        record = ItemRecord(url, url, title, text, published_at=published)
        with db.transaction(app.sessions) as session:
            ingested = repo.ingest(session, source, [record])
            done = [(item_id, analysis) for item_id, _ in ingested.new]
            repo.save_analyses(session, done)
            stories.on_analysed(session, app.settings, done, {i for i, _ in done})
        ids[url] = ingested.new[0][0]
    return ids


def _case_of(app: App, item_id: int) -> int:
    found = [c for c in cases.list_cases(app.sessions, status="all") if c.item_id == item_id]
    assert len(found) == 1, found
    return found[0].id


@pytest.fixture
def world(make_app: AppFactory) -> World:
    """Four items from two sources: a fire (alert, a case), a bridge, a flood (critical, a case),
    and an irrelevant gold price; two archived digests."""
    app = make_app(SOURCES)
    ids = store_items(app)
    with db.transaction(app.sessions) as session:
        for day, subject in (("2025-07-01", "Bản tin 01/07"), ("2025-07-02", "Bản tin 02/07")):
            digestdata.archive(
                session, day, "vi", subject, "<p>html</p>", f"Nội dung {subject}", _at(2, 7)
            )
        digestdata.mark_sent(session, "2025-07-02", _at(2, 8))
    clock = Clock()
    return World(app, clock, ids, _case_of(app, ids[FIRE]), _case_of(app, ids[FLOOD]))


def token_for(app: App, name: str, role: str, sources: tuple[str, ...] = ()) -> str:
    """A new user of ``role`` and an API token acting as them."""
    accounts.add_user(app.sessions, name, role, PASSWORD, sources)
    return accounts.create_token(app.sessions, name, "test", "admin")[1]


def api(world: World, token: str | None = None) -> TestClient:
    """A client of the web app that sends ``token`` as a bearer token (no cookies)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(create_web(world.app, clock=world.clock), headers=headers)


def _ids(rows: list[dict[str, Any]]) -> list[int]:
    return [row["id"] for row in rows]


# -- reading ------------------------------------------------------------------------------------


def test_items_lists_and_filters_like_the_search_page(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    listed = client.get("/api/items").json()
    assert listed["total"] == 4 and not listed["total_capped"] and listed["pages"] == 1
    # Newest first: the gold price (3 July 10:00), the flood (3 July 09:00), bridge, fire.
    assert _ids(listed["items"]) == [world.items[u] for u in (GOLD, FLOOD, BRIDGE, FIRE)]
    fire = listed["items"][-1]
    assert fire["title"] == "Cháy lớn tại chợ Cồn, huyện Hải Hậu" and fire["url"] == FIRE
    assert (fire["severity"], fire["sentiment"], fire["topic"]) == (
        "alert", "negative", "public_order"
    )  # fmt: skip
    assert fire["source_id"] == "baonamdinh" and fire["places"] == ["Huyện Hải Hậu"]
    assert fire["published_at"] == "2025-07-01T02:00:00Z"

    def ids(**params: Any) -> list[int]:
        found = client.get("/api/items", params=params)
        assert found.status_code == 200, found.text
        return sorted(_ids(found.json()["items"]))

    assert ids(sentiment="negative") == sorted([world.items[FIRE], world.items[FLOOD]])
    assert ids(source="vnexpress") == sorted([world.items[BRIDGE], world.items[FLOOD]])
    assert ids(min_severity="alert") == sorted([world.items[FIRE], world.items[FLOOD]])
    assert ids(severity="critical") == [world.items[FLOOD]]
    assert ids(relevant="no") == [world.items[GOLD]]
    assert ids(topic="infrastructure_transport") == [world.items[BRIDGE]]
    # Local days, until inclusive; a time with an offset is an instant.
    assert ids(since="2025-07-02", until="2025-07-02") == [world.items[BRIDGE]]
    assert ids(since="2025-07-03T09:30:00+07:00") == [world.items[GOLD]]
    page = client.get("/api/items", params={"per_page": 1, "page": 2}).json()
    assert _ids(page["items"]) == [world.items[FLOOD]] and page["pages"] == 4
    assert page["has_next"] is True and listed["has_next"] is False


def test_search_finds_words_without_diacritics_and_is_items_with_q(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    found = client.get("/api/search", params={"q": "cho con"}).json()
    assert _ids(found["items"]) == [world.items[FIRE]]
    hit = found["items"][0]
    assert "chợ Cồn" in hit["snippet"]
    assert {"text": "chợ Cồn", "match": True} in hit["snippet_segments"]
    assert hit["title_segments"] == [
        {"text": "Cháy lớn tại ", "match": False},
        {"text": "chợ Cồn", "match": True},
        {"text": ", huyện Hải Hậu", "match": False},
    ]
    assert client.get("/api/items", params={"q": "cho con"}).json()["items"] == found["items"]
    assert client.get("/api/search").status_code == 422  # the text is required here


def test_bad_filters_are_422_with_the_reason(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    for params in (
        {"severity": "urgent"},
        {"per_page": 1000},
        {"since": "yesterday"},
        {"since": "2025-02-30"},
        {"until": "0001-01-01"},
        {"since": "9999-12-31T23:00:00"},
        {"sort": "random"},
    ):
        answer = client.get("/api/items", params=params)
        assert answer.status_code == 422, params
    unknown = client.get("/api/items", params={"topic": "weather"})
    assert unknown.status_code == 422 and "public_order" in unknown.json()["detail"]


def test_item_detail_has_text_analysis_story_and_case(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    item = client.get(f"/api/items/{world.items[FIRE]}").json()
    assert item["text"].startswith("Rạng sáng nay một đám cháy lớn")
    assert item["analysis"]["severity"] == "alert"
    assert item["analysis"]["reasons"] == ["cháy chợ: 2 từ khoá"]
    assert item["analysis"]["places"][0]["name"] == "Huyện Hải Hậu"
    assert item["case_id"] == world.fire_case and item["story_id"] is not None
    assert item["effective"] == {
        "relevant": "true", "topic": "public_order", "sentiment": "negative", "severity": "alert"
    }  # fmt: skip
    assert item["corrections"] == []
    missing = client.get("/api/items/999999")
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]


def test_item_detail_shows_an_analysts_correction(world: World) -> None:
    feedback.correct(world.app, world.items[BRIDGE], "sentiment", "neutral", author="minh")
    client = api(world, token_for(world.app, "lan", "viewer"))
    item = client.get(f"/api/items/{world.items[BRIDGE]}").json()
    assert item["analysis"]["sentiment"] == "positive"  # the analyser's own verdict stays
    assert item["effective"]["sentiment"] == "neutral"
    [label] = item["corrections"]
    assert (label["field"], label["value"], label["previous"], label["author"]) == (
        "sentiment", "neutral", "positive", "minh"
    )  # fmt: skip


def test_stories_and_a_story_with_its_items(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    listed = client.get("/api/stories").json()
    assert len(listed["stories"]) == 4 and listed["more"] is False
    titles = [s["title"] for s in listed["stories"]]
    assert "Cháy lớn tại chợ Cồn, huyện Hải Hậu" in titles
    first = client.get("/api/stories", params={"per_page": 2}).json()
    assert len(first["stories"]) == 2 and first["more"] is True
    severe = client.get("/api/stories", params={"severity": "critical"}).json()["stories"]
    assert [s["title"] for s in severe] == ["Ngập lụt nghiêm trọng ở Giao Thủy sau bão"]
    story = severe[0]
    assert story["case_id"] == world.flood_case and story["item_count"] == 1
    detail = client.get(f"/api/stories/{story['id']}").json()
    assert detail["story"]["id"] == story["id"]
    assert [(i["id"], i["severity"]) for i in detail["items"]] == [(world.items[FLOOD], "critical")]
    assert client.get("/api/stories/999999").status_code == 404


def test_cases_list_filters_and_detail_with_events(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    listed = client.get("/api/cases").json()
    # Most severe first.
    assert _ids(listed["cases"]) == [world.flood_case, world.fire_case]
    flood = listed["cases"][0]
    assert (flood["status"], flood["severity"], flood["kind"]) == ("new", "critical", "story")
    assert flood["status_name"] == {"vi": "mới", "en": "new"}
    assert flood["allowed_actions"] == ["ack", "start", "resolve", "dismiss", "assign", "note"]
    assert flood["due_at"] is not None
    critical = client.get("/api/cases", params={"severity": "critical"}).json()["cases"]
    assert _ids(critical) == [world.flood_case]
    assert client.get("/api/cases", params={"status": "closed"}).json()["cases"] == []
    assert client.get("/api/cases", params={"kind": "surge"}).json()["cases"] == []
    assert _ids(client.get("/api/cases", params={"offset": 1}).json()["cases"]) == [world.fire_case]
    assert client.get("/api/cases", params={"status": "sleeping"}).status_code == 422
    detail = client.get(f"/api/cases/{world.fire_case}").json()
    assert detail["case"]["title"] == "Cháy lớn tại chợ Cồn, huyện Hải Hậu"
    assert detail["story"]["item_count"] == 1 and detail["item"]["url"] == FIRE
    assert [e["action"] for e in detail["events"]] == ["opened", "notify"]
    assert client.get("/api/cases/999999").status_code == 404


def test_sources_with_health(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    listed = {s["id"]: s for s in client.get("/api/sources").json()}
    assert {"baonamdinh", "vnexpress"} <= set(listed)
    assert listed["baonamdinh"]["name"] == "Báo Nam Định"
    assert listed["baonamdinh"]["items"] == 2 and listed["vnexpress"]["items"] == 2
    assert listed["vnexpress"]["health"] == "active" and listed["vnexpress"]["kind"] == "rss"


def test_digests_list_and_one_day_as_text(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    listed = client.get("/api/digests").json()["digests"]
    assert [(d["day"], d["subject"]) for d in listed] == [
        ("2025-07-02", "Bản tin 02/07"), ("2025-07-01", "Bản tin 01/07")
    ]  # fmt: skip
    assert listed[0]["sent_at"] == "2025-07-02T01:00:00Z" and listed[1]["sent_at"] is None
    day = client.get("/api/digests/2025-07-02").json()
    assert day["text"] == "Nội dung Bản tin 02/07" and "html" not in day
    assert client.get("/api/digests/2025-06-30").status_code == 404
    assert client.get("/api/digests/yesterday").status_code == 422


# -- who may ------------------------------------------------------------------------------------

READS = [
    "/api/items", "/api/search?q=chay", "/api/stories", "/api/cases", "/api/sources",
    "/api/digests", "/api/digests/2025-07-01", "/api/openapi.json", "/api/docs",
]  # fmt: skip


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer wrong",
        "Bearer mon_unknown-token-of-nobody",
        "Basic bGFuOnBhc3N3b3Jk",
        "Bearer",
    ],
)
def test_no_or_a_wrong_token_is_401(world: World, header: str | None) -> None:
    client = TestClient(create_web(world.app, clock=world.clock), follow_redirects=False)
    headers = {"Authorization": header} if header else {}
    for path in [*READS, f"/api/items/{world.items[FIRE]}", f"/api/cases/{world.fire_case}"]:
        answer = client.get(path, headers=headers)
        if path == "/api/docs":  # a page a person opens: sent to sign in
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next=")
            continue
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert answer.json() == {"detail": "authentication required"}
    acted = client.post(
        f"/api/cases/{world.fire_case}/actions", json={"action": "ack"}, headers=headers
    )
    assert acted.status_code == 401
    assert cases.show(world.app.sessions, world.fire_case).case.status == "new"


def test_every_read_works_with_a_token(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    for path in READS:
        assert client.get(path).status_code == 200, path


def test_a_revoked_token_is_refused(world: World) -> None:
    token = token_for(world.app, "lan", "viewer")
    client = api(world, token)
    assert client.get("/api/cases").status_code == 200
    [row] = accounts.list_tokens(world.app.sessions)
    assert accounts.revoke_token(world.app.sessions, row.id)
    refused = client.get("/api/cases")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"


def test_a_disabled_users_token_is_refused_until_enabled(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "analyst"))
    assert client.get("/api/items").status_code == 200
    accounts.set_disabled(world.app.sessions, "lan", True)
    assert client.get("/api/items").status_code == 401
    acted = client.post(f"/api/cases/{world.fire_case}/actions", json={"action": "ack"})
    assert acted.status_code == 401
    accounts.set_disabled(world.app.sessions, "lan", False)
    assert client.get("/api/items").status_code == 200


def test_a_viewer_reads_but_may_not_act(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    assert client.get(f"/api/cases/{world.fire_case}").status_code == 200
    refused = client.post(f"/api/cases/{world.fire_case}/actions", json={"action": "ack"})
    assert refused.status_code == 403 and "analyst" in refused.json()["detail"]
    detail = cases.show(world.app.sessions, world.fire_case)
    assert detail.case.status == "new" and [e.action for e in detail.events] == ["opened", "notify"]


# -- acting on cases ----------------------------------------------------------------------------


def test_an_analyst_acknowledges_a_case_and_the_trail_records_it(world: World) -> None:
    client = api(world, token_for(world.app, "minh", "analyst"))
    acted = client.post(
        f"/api/cases/{world.fire_case}/actions", json={"action": "ack", "note": "đang xác minh"}
    )
    assert acted.status_code == 200, acted.text
    case = acted.json()
    assert case["id"] == world.fire_case and case["status"] == "acknowledged"
    assert case["acknowledged_at"] is not None
    assert "ack" not in case["allowed_actions"] and "start" in case["allowed_actions"]
    stored = cases.show(world.app.sessions, world.fire_case)
    last = stored.events[-1]
    assert (last.actor, last.action, last.channel) == ("minh", "acknowledged", "api")
    assert (last.from_status, last.to_status, last.note) == ("new", "acknowledged", "đang xác minh")
    shown = client.get(f"/api/cases/{world.fire_case}").json()["events"][-1]
    assert (shown["actor"], shown["channel"], shown["to_status"]) == ("minh", "api", "acknowledged")
    assigned = client.post(
        f"/api/cases/{world.fire_case}/actions", json={"action": "assign", "assignee": "Lan"}
    )
    assert assigned.json()["assignee"] == "Lan"


def test_an_action_the_state_forbids_is_409_with_the_message(world: World) -> None:
    client = api(world, token_for(world.app, "minh", "analyst"))
    path = f"/api/cases/{world.fire_case}/actions"
    assert client.post(path, json={"action": "ack"}).status_code == 200
    again = client.post(path, json={"action": "ack"})
    assert again.status_code == 409
    message = again.json()["detail"]
    assert f"Cannot ack case #{world.fire_case}: it is acknowledged" in message
    assert message.startswith("Không thể nhận (ack)")
    reopen = client.post(path, json={"action": "reopen"})
    assert reopen.status_code == 409 and "it is acknowledged" in reopen.json()["detail"]
    assert len(cases.show(world.app.sessions, world.fire_case).events) == 3


def test_bad_action_bodies_are_422_and_change_nothing(world: World) -> None:
    client = api(world, token_for(world.app, "minh", "analyst"))
    path = f"/api/cases/{world.fire_case}/actions"
    assert client.post(path, json={"action": "explode"}).status_code == 422
    assert client.post(path, json={"action": "ack", "extra": 1}).status_code == 422
    note = client.post(path, json={"action": "note"})
    assert note.status_code == 422 and "note needs its text" in note.json()["detail"]
    assign = client.post(path, json={"action": "assign", "assignee": "  "})
    assert assign.status_code == 422
    assert client.post("/api/cases/999999/actions", json={"action": "ack"}).status_code == 404
    assert cases.show(world.app.sessions, world.fire_case).case.status == "new"


def test_a_browser_session_on_the_api_needs_the_csrf_header(world: World) -> None:
    user = web_client(world.app, "thu", "analyst", world.clock)
    path = f"/api/cases/{world.fire_case}/actions"
    assert user.get("/api/cases").status_code == 200
    refused = user.client.post(path, json={"action": "ack"})
    assert refused.status_code == 403
    done = user.client.post(path, json={"action": "ack"}, headers={"X-CSRF-Token": user.csrf})
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"


# -- scope --------------------------------------------------------------------------------------


def test_a_scoped_token_sees_only_its_sources(world: World) -> None:
    client = api(world, token_for(world.app, "huyen", "analyst", ("vnexpress",)))
    items = client.get("/api/items").json()
    assert sorted(_ids(items["items"])) == sorted([world.items[BRIDGE], world.items[FLOOD]])
    assert client.get("/api/items", params={"source": "baonamdinh"}).json()["total"] == 0
    assert client.get(f"/api/items/{world.items[FIRE]}").status_code == 404
    assert client.get(f"/api/items/{world.items[FLOOD]}").status_code == 200
    titles = {s["title"] for s in client.get("/api/stories").json()["stories"]}
    assert titles == {"Khánh thành cầu Tân Phong nối hai bờ sông Ninh Cơ",
                      "Ngập lụt nghiêm trọng ở Giao Thủy sau bão"}  # fmt: skip
    flood_story = client.get(f"/api/items/{world.items[FLOOD]}").json()["story_id"]
    fire_story = (
        api(world, token_for(world.app, "an", "viewer"))
        .get(f"/api/items/{world.items[FIRE]}")
        .json()["story_id"]
    )
    assert client.get(f"/api/stories/{flood_story}").status_code == 200
    assert client.get(f"/api/stories/{fire_story}").status_code == 404
    assert _ids(client.get("/api/cases").json()["cases"]) == [world.flood_case]
    assert client.get(f"/api/cases/{world.fire_case}").status_code == 404
    acted = client.post(f"/api/cases/{world.fire_case}/actions", json={"action": "ack"})
    assert acted.status_code == 404
    assert cases.show(world.app.sessions, world.fire_case).case.status == "new"
    assert [s["id"] for s in client.get("/api/sources").json()] == ["vnexpress"]


def test_surge_cases_are_for_users_who_see_every_source(world: World) -> None:
    surge = surges.Surge("place", "Huyện Giao Thủy", _at(3), 6, 0.5, 6, 0.2, False, True)
    with db.transaction(world.app.sessions) as session:
        [(_, opened)] = surges.record(session, world.app.settings, [surge], _at(3))
    everyone = api(world, token_for(world.app, "lan", "viewer"))
    assert _ids(everyone.get("/api/cases", params={"kind": "surge"}).json()["cases"]) == [
        opened.case_id
    ]
    scoped = api(world, token_for(world.app, "huyen", "analyst", ("vnexpress",)))
    assert scoped.get("/api/cases", params={"kind": "surge"}).json()["cases"] == []
    assert scoped.get(f"/api/cases/{opened.case_id}").status_code == 404


# -- the schema ---------------------------------------------------------------------------------


def test_openapi_lists_the_api_and_nothing_else(world: World) -> None:
    client = api(world, token_for(world.app, "lan", "viewer"))
    schema = client.get("/api/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/items", "/api/search", "/api/items/{item_id}", "/api/stories",
        "/api/stories/{story_id}", "/api/cases", "/api/cases/{case_id}",
        "/api/cases/{case_id}/actions", "/api/sources", "/api/digests", "/api/digests/{day}",
    }  # fmt: skip
    action = schema["paths"]["/api/cases/{case_id}/actions"]["post"]
    assert set(action["responses"]) >= {"200", "401", "403", "404", "409", "422"}
    assert action["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Case"
    }
    params = {p["name"] for p in schema["paths"]["/api/items"]["get"]["parameters"]}
    assert {"q", "since", "until", "topic", "sentiment", "severity", "source", "kind"} <= params
    assert {"place", "sort", "page", "per_page"} <= params
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert set(get_args(CaseAction)) == set(cases.ACTIONS)


def test_the_docs_page_lists_every_operation(world: World) -> None:
    user = web_client(world.app, "lan", "viewer", world.clock)
    page = user.get("/api/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assert 'data-method="POST" data-path="/api/cases/{case_id}/actions"' in html
    assert 'data-method="GET" data-path="/api/digests/{day}"' in html
    assert html.count('class="card api-op"') == 11
    assert 'id="model-CaseActionIn"' in html and "per_page" in html
    assert "<script>" not in html and "cdn" not in html.lower()
