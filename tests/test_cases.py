"""The case workflow: every allowed transition, every refused one, the audit trail, due times on
story/source/surge cases as the pipeline opens them, and ``monitor cases`` as staff use it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from monitor import cases, surges
from monitor.bootstrap import App, build_app
from monitor.cases_cli import cases_cli
from monitor.configfile import load_settings
from monitor.pipeline import crawl_source
from monitor.storage import db
from monitor.storage.models import Case, CaseEvent
from tests.conftest import AppFactory, FeedServer
from tests.test_stories import FIRE, KEYWORD, body, flag, store

T0 = datetime(2025, 7, 1, 2, 0, tzinfo=UTC)
# How to bring a new case into each state, and what each action leads to from each state.
PATH = {"new": [], "acknowledged": ["ack"], "in_progress": ["start"], "resolved": ["resolve"],
        "dismissed": ["dismiss"]}  # fmt: skip
ALLOWED = {
    ("new", "ack"): "acknowledged",
    ("new", "start"): "in_progress",
    ("acknowledged", "start"): "in_progress",
    **{(s, "resolve"): "resolved" for s in cases.OPEN},
    **{(s, "dismiss"): "dismissed" for s in cases.OPEN},
    **{(s, "reopen"): "acknowledged" for s in cases.CLOSED},
    ("new", "assign"): "acknowledged",  # whoever assigns a new case has seen it
    ("acknowledged", "assign"): "acknowledged",
    ("in_progress", "assign"): "in_progress",
    **{(s, "note"): s for s in cases.STATUSES},
}
ILLEGAL = [pair for pair in itertools.product(PATH, cases.ACTIONS) if pair not in ALLOWED]
runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # one table row per case


def _surge(key: str, negative: int = 3) -> surges.Surge:
    return surges.Surge("place", key, T0, negative, 0.5, negative, 0.2, False, True)


def _open(app: App, key: str = "a", negative: int = 3, now: datetime = T0) -> int:
    """Open a case the way the surge job does."""
    with db.transaction(app.sessions) as session:
        [(_, opened)] = surges.record(session, app.settings, [_surge(key, negative)], now)
    return opened.case_id


def _act(app: App, case_id: int, action: str, at: datetime = T0, **kw: str) -> cases.CaseView:
    kw = {"actor": "an", "channel": "cli", **kw}
    if action == "assign":
        kw.setdefault("assignee", "binh")
    if action == "note":
        kw.setdefault("note", "đã gọi phóng viên")
    with db.transaction(app.sessions) as session:
        return cases.transition(session, case_id, action, now=at, **kw)  # type: ignore[arg-type]


def _in_state(app: App, status: str, key: str) -> int:
    case_id = _open(app, key)
    for action in PATH[status]:
        _act(app, case_id, action)
    return case_id


def _row(app: App, case_id: int) -> tuple[Case, list[CaseEvent]]:
    with app.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        events = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)))
        return case, events


def test_every_allowed_transition(make_app: AppFactory) -> None:
    app = make_app([])
    at = T0 + timedelta(minutes=5)
    for n, ((status, action), target) in enumerate(ALLOWED.items()):
        case_id = _in_state(app, status, f"k{n}")
        view = _act(app, case_id, action, at, note="ghi chú")
        case, events = _row(app, case_id)
        assert (view.status, case.status) == (target, target), (status, action)
        assert case.updated_at == at and events[-1].at == at
        assert events[-1].detail == {
            "channel": "cli", "from": status, "to": target, "note": "ghi chú",
            **({"assignee": "binh"} if action == "assign" else {}),
        }, (status, action)  # fmt: skip
        assert (case.acknowledged_at is None) == (target == "new"), (status, action)
        closed_by_it = target in cases.CLOSED and status not in cases.CLOSED
        assert (case.resolved_at == at) == closed_by_it, (status, action)
        assert (case.resolved_at is None) == (target not in cases.CLOSED), (status, action)


def test_illegal_transitions_are_refused_with_a_clear_message_and_write_nothing(
    make_app: AppFactory,
) -> None:
    app = make_app([])
    assert len(ILLEGAL) == 16 and len(ALLOWED) == 19
    for n, (status, action) in enumerate(ILLEGAL):
        case_id = _in_state(app, status, f"k{n}")
        before, trail = _row(app, case_id)
        with pytest.raises(cases.IllegalTransition) as refused:
            _act(app, case_id, action, T0 + timedelta(hours=1))
        after, trail_after = _row(app, case_id)
        assert (after.status, after.updated_at, len(trail_after)) == (
            before.status, before.updated_at, len(trail)
        ), (status, action)  # fmt: skip
        message = str(refused.value)
        assert message.startswith(f"Không thể {cases.ACTIONS[action].label} ({action})")
        assert f"«{cases.STATUS_LABELS[status]}» ({status})" in message
        assert f"Cannot {action} case #{case_id}: it is {status}" in message
        allowed = [a for s, a in ALLOWED if s == status]
        assert refused.value.allowed == allowed and ", ".join(allowed) in message
        assert isinstance(refused.value, ValueError)


def test_the_audit_trail_says_who_when_what_from_where(make_app: AppFactory) -> None:
    app = make_app([])
    case_id = _open(app)
    t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (3, 10, 50))
    _act(app, case_id, "ack", t1, actor="truc-ban-1", channel="email-link")
    _act(app, case_id, "assign", t2, actor="chanh-van-phong", channel="web", assignee="Lan")
    _act(app, case_id, "resolve", t3, actor="Lan", channel="telegram", note="đã trả lời báo chí")

    case, events = _row(app, case_id)
    mine = [e for e in events if e.action not in ("opened", "notify")]
    assert [(e.at, e.actor, e.action) for e in mine] == [
        (t1, "truc-ban-1", "acknowledged"),
        (t2, "chanh-van-phong", "assigned"),
        (t3, "Lan", "resolved"),
    ]
    assert [e.detail for e in mine] == [
        {"channel": "email-link", "from": "new", "to": "acknowledged"},
        {"channel": "web", "from": "acknowledged", "to": "acknowledged", "assignee": "Lan"},
        {"channel": "telegram", "from": "acknowledged", "to": "resolved",
         "note": "đã trả lời báo chí"},
    ]  # fmt: skip
    assert (case.acknowledged_at, case.resolved_at, case.assignee) == (t1, t3, "Lan")

    _act(app, case_id, "reopen", t3 + timedelta(hours=1), channel="web", actor="Lan")
    _act(app, case_id, "assign", t3 + timedelta(hours=2), channel="web", assignee="Minh")
    case, events = _row(app, case_id)
    assert (case.status, case.resolved_at, case.acknowledged_at) == ("acknowledged", None, t1)
    assert events[-1].detail["previous_assignee"] == "Lan" and case.assignee == "Minh"


def test_an_ack_used_twice_acknowledges_once(make_app: AppFactory) -> None:
    app = make_app([])
    case_id = _open(app)
    _act(app, case_id, "ack", T0 + timedelta(minutes=1), actor="a", channel="email-link")
    with pytest.raises(cases.IllegalTransition, match="«đã nhận» \\(acknowledged\\)") as again:
        _act(app, case_id, "ack", T0 + timedelta(minutes=2), actor="b", channel="telegram")

    case, events = _row(app, case_id)
    assert [e.actor for e in events if e.action == "acknowledged"] == ["a"]
    assert case.acknowledged_at == T0 + timedelta(minutes=1)
    assert again.value.status == "acknowledged" and again.value.case_id == case_id


def test_bad_calls_raise_before_writing(make_app: AppFactory) -> None:
    app = make_app([])
    case_id = _open(app)
    with pytest.raises(KeyError):
        _act(app, 999, "ack")
    with pytest.raises(cases.IllegalTransition, match="Unknown case action 'close'"):
        _act(app, case_id, "close")
    for action, kw, message in [
        ("ack", {"channel": "fax"}, "unknown channel 'fax'"),
        ("ack", {"actor": " "}, "needs an actor"),
        ("assign", {"assignee": ""}, "assign needs the person"),
        ("note", {"note": "  "}, "a note needs its text"),
    ]:
        with pytest.raises(ValueError, match=message):
            _act(app, case_id, action, **kw)
    assert _row(app, case_id)[0].status == "new" and len(_row(app, case_id)[1]) == 2


DUE = {"cases": {"due": {"critical": "30m", "watch": "2d"}}}


def test_due_times_per_severity_from_settings(make_app: AppFactory) -> None:
    settings = make_app([], **DUE).settings
    assert cases.due_map(settings) == {
        "none": timedelta(days=2), "watch": timedelta(days=2),
        "alert": timedelta(hours=4), "critical": timedelta(minutes=30),
    }  # fmt: skip
    assert cases.due_at(settings, "critical", T0) == T0 + timedelta(minutes=30)
    assert cases.due_at(settings, "alert", T0) == T0 + timedelta(hours=4)  # the default kept


def test_story_case_is_due_by_its_severity_and_sooner_when_it_rises(make_app: AppFactory) -> None:
    app = make_app([], **KEYWORD, **DUE)
    assert store(app, ("https://a.vn/1", FIRE["title"], body(FIRE), flag("alert"))) == 1
    with app.sessions() as session:
        case = session.scalars(select(Case)).one()
    assert case.kind == "story" and case.due_at == case.opened_at + timedelta(hours=4)

    store(app, ("https://b.vn/1", FIRE["title"], body(FIRE), flag("critical")))  # a copy
    with app.sessions() as session:
        case = session.scalars(select(Case)).one()
    assert case.severity == "critical" and case.due_at == case.opened_at + timedelta(minutes=30)
    view = cases.show(app.sessions, case.id)
    assert view.story is not None and view.story.item_count == 2 == view.case.item_count
    assert view.item is not None and view.item.url == "https://a.vn/1"


def test_source_case_is_due_as_an_alert(make_app: AppFactory, feed_server: FeedServer) -> None:
    feed_server.add("/gone.rss", b"gone", status=410)
    app = make_app([{"id": "gone", "kind": "rss", "url": feed_server.url("/gone.rss")}], **DUE)
    for _ in range(4):
        crawl_source(app, "gone", force=True)
    [view] = cases.list_cases(app.sessions)
    assert view.kind == "source" and view.due_at == view.opened_at + timedelta(hours=4)
    assert cases.show(app.sessions, view.id).source is not None


def test_surge_case_is_due_by_its_severity(make_app: AppFactory) -> None:
    app = make_app([], **DUE)
    critical, alert = _open(app, "a", negative=30), _open(app, "b", negative=3)
    due = {v.id: (v.severity, v.due_at) for v in cases.list_cases(app.sessions)}
    assert due == {
        critical: ("critical", T0 + timedelta(minutes=30)),
        alert: ("alert", T0 + timedelta(hours=4)),
    }


def test_list_filters_orders_and_marks_overdue(make_app: AppFactory) -> None:
    app = make_app([])
    alert, critical, done = _open(app, "a"), _open(app, "b", negative=30), _open(app, "c")
    _act(app, done, "resolve")
    late = T0 + timedelta(hours=2)  # past the critical case's 1 h, within the alert's 4 h
    listed = cases.list_cases(app.sessions, status="open", now=late)
    assert [(v.id, v.overdue) for v in listed] == [(critical, True), (alert, False)]
    assert [v.id for v in cases.list_cases(app.sessions, severity="critical")] == [critical]
    assert [v.id for v in cases.list_cases(app.sessions, status="closed")] == [done]
    assert len(cases.list_cases(app.sessions, status="all", limit=2)) == 2
    resolved = cases.list_cases(app.sessions, status="resolved", now=late + timedelta(days=1))
    assert not resolved[0].overdue  # a closed case is never overdue
    for bad in ({"status": "later"}, {"severity": "huge"}):
        with pytest.raises(ValueError, match="unknown"):
            cases.list_cases(app.sessions, **bad)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        cases.show(app.sessions, 999)


def test_cli_list_show_ack_assign_resolve(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("database:\n  url: sqlite:///cases.db\ntimezone: Asia/Ho_Chi_Minh\n")
    app = build_app(load_settings(config))
    try:
        case_id, other = _open(app, "a", now=datetime.now(UTC)), _open(app, "b", negative=30)
    finally:
        app.close()

    def run(*args: str) -> tuple[int, str]:
        # As `monitor --config FILE cases ...` runs it, once cases_cli is registered in monitor.cli.
        result = runner.invoke(cases_cli, list(args), obj={"config": config}, env=WIDE)
        return result.exit_code, result.output

    code, out = run("list")
    assert code == 0 and f"│ {case_id} " in out and "mới (new)" in out and "quá hạn" in out
    assert run("ack", str(case_id), "--by", "lan", "--note", "đang xem") == (
        0, f"sự vụ / case #{case_id}: mới (new) → đã nhận (acknowledged)\n"
    )  # fmt: skip
    code, out = run("ack", str(case_id), "--by", "minh")
    assert code == 1 and "Không thể nhận (ack)" in out and "Cannot ack" in out
    code, out = run("assign", str(case_id), "Hoa", "--by", "lan")
    assert code == 0 and "người xử lý / assignee: Hoa" in out
    assert run("resolve", str(case_id), "--note", "xong")[0] == 0
    code, out = run("show", str(case_id))
    assert code == 0 and "đã xong (resolved)" in out and "đang xem" in out
    assert "acknowledged" in out and "assigned" in out and "resolved" in out and "lan" in out
    code, out = run("list", "--status", "closed")
    assert code == 0 and f"│ {case_id} " in out and f"│ {other} " not in out
    assert run("note", str(other), "gọi lại sau")[0] == 0
    assert run("reopen", str(case_id))[0] == 0 and run("start", str(case_id))[0] == 0
    assert run("dismiss", str(other), "--by", "lan")[0] == 0

    app = build_app(load_settings(config))
    with app.sessions() as session:
        acks = session.scalar(select(func.count()).where(CaseEvent.action == "acknowledged"))
        channels = set(session.scalars(select(CaseEvent.detail["channel"].as_string())))
    app.close()
    assert acks == 1 and channels == {None, "cli"}
    assert run("ack", "999")[0] == 1 and "no case #999" in run("show", "999")[1]
    assert run("list", "--status", "later")[0] == 2
    assert run("assign", str(case_id))[0] == 2  # no person
