"""The daily digest on three realistic days stored through ingest, analyses and stories
(tests/fixtures/digest/days.json): its numbers, HTML and text, archive, --out, and sending."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import select, update
from typer.testing import CliRunner

from crawlers.base import ItemRecord
from monitor import digest, jobs, scheduler, stories
from monitor.bootstrap import App
from monitor.channels.base import Message, PermanentChannelError
from monitor.cli import main_options
from monitor.digest_cli import digest as digest_command
from monitor.errors import ConfigError
from monitor.storage import db, repo
from monitor.storage.models import Case, Digest, Item, Source, Story, utcnow
from nlp.base import Analysis, Place
from tests.conftest import AppFactory, Database

FIXTURE = Path(__file__).parent / "fixtures" / "digest" / "days.json"
PEOPLE = [
    {"id": "truc-ban", "name": "Trực ban", "email": "trucban@stttt.example.vn"},
    {"id": "lanh-dao", "name": "Lãnh đạo Sở", "email": "lanhdao@stttt.example.vn"},
    {"id": "phong-vien", "name": "Không có email", "telegram_chat_id": "42"},
]
HISTORY = (7, 9, 6, 11, 8, 12, 9, 7, 10, 13, 8)  # items per day before the fixture's three (docs)


@dataclass
class Filled:
    """The stored fixture: the digest's day, the moment it is judged at, item ids by slug."""

    day: date
    now: datetime
    ids: dict[str, int]


def fixture_data() -> dict[str, Any]:
    """The fixture file."""
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def sources_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The fixture's sources as config.yaml would list them."""
    return [{"id": s["id"], "kind": "rss", "url": s["url"], "name": s["name"]} for s in data["sources"]]  # fmt: skip


def _analysis(entry: dict[str, Any]) -> Analysis:
    if not entry.get("relevant", True):
        return Analysis("fixture", relevant=False, relevance_score=0.05)
    places = [Place(name, "commune", 0, 0) for name in entry["places"]]
    return Analysis(
        "fixture",
        relevant=True,
        relevance_score=0.9,
        severity=entry["severity"],
        places=[*places, Place("Nam Định", "province", 0, 0)],
        topic=entry["topic"],
        sentiment=entry["sentiment"],
        sentiment_score=0.8,
        reasons=entry["reasons"],
    )


def _store(
    app: App,
    source_url: str,
    source_id: str,
    entry: dict[str, Any],
    at: datetime,
    group: bool = True,
) -> int:
    """Store one item as a crawl run would (in a story, with a case if flagged, when ``group``),
    then date everything it created at ``at``."""
    host = source_url.split("/")[2]
    url = f"https://{host}/{entry['slug']}.html"
    record = ItemRecord(url, url, entry["title"], entry["text"], published_at=at - timedelta(minutes=30))  # fmt: skip
    began = utcnow()
    with db.transaction(app.sessions) as session:
        (item_id, _), *_ = repo.ingest(session, source_id, [record]).new
        analysed = [(item_id, _analysis(entry))]
        repo.save_analyses(session, analysed)
        if group:
            stories.on_analysed(session, app.settings, analysed, {item_id})
        session.execute(update(Item).where(Item.id == item_id).values(fetched_at=at))
        session.execute(update(Story).where(Story.first_seen_at >= began).values(first_seen_at=at))
        session.execute(update(Story).where(Story.last_seen_at >= began).values(last_seen_at=at))
        for case in session.scalars(select(Case).where(Case.opened_at >= began)):
            due = app.settings.cases.due[case.severity]  # type: ignore[index]
            case.opened_at = case.updated_at = at
            case.due_at = at + timedelta(seconds=due)
    return item_id


def _history(app: App, data: dict[str, Any], day: date) -> None:
    """Plainer days before the fixture's three, so the 14-day charts have a past (docs only):
    items counted per day, topic and tone, but in no story and with no case."""
    relevant = [e for e in data["items"] if e.get("relevant", True)]
    source = data["sources"][0]
    for back, count in enumerate(HISTORY, start=3):
        for n in range(count):
            entry = relevant[(back * 7 + n) % len(relevant)]
            copy = {**entry, "slug": f"{entry['slug']}-{back}-{n}", "title": f"{entry['title']} ({n + 1})", "text": f"Tin ngày {back}-{n}."}  # fmt: skip
            at = datetime.combine(day - timedelta(days=back), datetime.min.time(), app.settings.tz)
            _store(app, source["url"], source["id"], copy, at + timedelta(hours=7 + n), False)


def fill(app: App, *, history: bool = False) -> Filled:
    """Store the fixture's days in the application's database, cases and source health included."""
    data = fixture_data()
    day, tz = date.fromisoformat(data["day"]), app.settings.tz
    urls = {s["id"]: s["url"] for s in data["sources"]}

    def local(offset: int, clock: str) -> datetime:
        hour, minute = map(int, clock.split(":"))
        return datetime.combine(day + timedelta(days=offset), datetime.min.time(), tz).replace(hour=hour, minute=minute)  # fmt: skip

    if history:
        _history(app, data, day)
    ids = {}
    for entry in data["items"]:
        ids[entry["slug"]] = _store(app, urls[entry["source"]], entry["source"], entry, local(entry["day"], entry["at"]))  # fmt: skip
        for n, (source_id, clock) in enumerate(entry.get("copies", ())):
            copy = {**entry, "slug": f"{entry['slug']}-{n}"}
            _store(app, urls[source_id], source_id, copy, local(entry["day"], clock))
    with db.transaction(app.sessions) as session:
        for entry in (e for e in data["items"] if "case" in e):
            status = entry["case"]["status"]
            case = session.scalars(select(Case).where(Case.item_id == ids[entry["slug"]])).one()
            case.status = status
            if status == "resolved":
                case.resolved_at = case.opened_at + timedelta(hours=3)
        for source in data["sources"]:
            row = session.get(Source, source["id"])
            assert row is not None
            row.health, row.health_reason = source.get("health", "active"), source.get("health_reason")  # fmt: skip
            if "last_error" in source:
                run_id = repo.start_run(session, source["id"])
                repo.finish_run(session, run_id, "error", errors=1, error=source["last_error"])
                repo.record_failure(session, source["id"], source["last_error"], None)
    return Filled(day, datetime.fromisoformat(data["now"]), ids)


class FakeEmail:
    """An email channel that records what it was asked to send (and fails for some recipients)."""

    name = "email"

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.sent: list[tuple[str, Message]] = []
        self.refuse = set(refuse)

    def send(self, recipient: str, message: Message) -> None:
        if recipient in self.refuse:
            raise PermanentChannelError(f"email: {recipient} refused")
        self.sent.append((recipient, message))


@pytest.fixture
def filled(make_app: AppFactory) -> tuple[App, Filled]:
    """An application whose database holds the fixture's days."""
    data = fixture_data()
    app = make_app(sources_of(data), analysis={"analyser": "keyword"}, oncall={"people": PEOPLE})
    return app, fill(app)


def test_digest_counts_compare_and_rank(filled: tuple[App, Filled]) -> None:
    app, f = filled
    data = digest.build(app, f.day, f.now)

    assert [d.total for d in data.series[-4:]] == [0, 6, 10, 15] and len(data.series) == 14
    assert (data.total, data.previous, data.change) == (15, 10, 50)
    assert data.week_average == pytest.approx(16 / 7)
    assert dict(data.sentiments) == {"negative": 7, "neutral": 5, "positive": 3}
    assert data.topics[0] == ("An ninh trật tự, tai nạn, cháy nổ", 4) and sum(n for _, n in data.topics) == 15  # fmt: skip
    assert data.places[0] == ("Xã Hải Hậu", 5) and "Nam Định" not in dict(data.places)
    fire, water = data.stories[:2]
    assert (fire.severity, fire.items, fire.outlets) == ("critical", 3, 3)
    assert fire.title.startswith("Cháy lớn tại chợ Hải Hậu") and fire.url == "https://baonamdinh.vn/chay-cho-hai-hau.html"  # fmt: skip
    assert "“cháy lớn”" in " ".join(fire.reasons)
    assert water.severity == "alert" and water.title.startswith("<script>")
    assert [c.severity for c in data.new_cases] == ["critical", "alert"]
    assert [c.status for c in data.open_cases] == [
        "new",
        "in_progress",
        "acknowledged",
    ]  # by severity, then due
    assert all(data.overdue(c) for c in data.open_cases)  # judged the next morning
    assert {(s.id, s.health) for s in data.sources} == {("baoninhbinh", "disabled"), ("laodong", "active")}  # fmt: skip


def test_html_escapes_and_embeds_both_charts_and_text_says_the_same(
    filled: tuple[App, Filled],
) -> None:
    app, f = filled
    rendered = digest.run(app, f.day, now=f.now).rendered

    assert rendered.subject == (
        "Bản tin giám sát truyền thông tỉnh Nam Định – 01/07/2025: 15 tin (+50%), 2 sự vụ mới"
    )
    assert "<script>alert" not in rendered.html and "&lt;script&gt;alert(&#39;x&#39;)" in rendered.html  # fmt: skip
    assert rendered.html.count('src="cid:') == 2 and rendered.page.count('src="data:image/png;base64,') == 2  # fmt: skip
    assert [name for name, _ in rendered.images] == ["volume", "sentiment"]
    for _, png in rendered.images:
        assert png.startswith(b"\x89PNG") and len(png) < 60_000
    for section in ("Tổng quan", "Theo chủ đề", "Theo địa bàn", "Tin nổi bật", "Sự vụ mới trong ngày", "Sự vụ đang mở", "Nguồn lỗi hoặc im lặng"):  # fmt: skip
        assert section in rendered.html and section.upper() in rendered.text
    assert "1. [Khẩn cấp] Cháy lớn tại chợ Hải Hậu" in rendered.text
    assert "3 tin · 3 nguồn" in rendered.text and "quá hạn" in rendered.text
    assert "Báo Ninh Bình: đã tắt do lỗi liên tiếp — HTTP 404" in rendered.text


def test_english_digest(filled: tuple[App, Filled]) -> None:
    app, f = filled
    rendered = digest.run(app, f.day, language="en", now=f.now).rendered
    assert rendered.subject == (
        "Media monitoring digest – Nam Định province – 2025-07-01: 15 items (+50%), 2 new cases"
    )
    assert "TOP STORIES" in rendered.text and "Cases opened that day" in rendered.html


def test_archive_keeps_one_row_per_day(filled: tuple[App, Filled]) -> None:
    app, f = filled
    digest.run(app, f.day, now=f.now)
    digest.run(app, f.day, language="en", now=f.now)
    with app.sessions() as session:
        rows = session.scalars(select(Digest)).all()
    assert [(r.day, r.language, r.sent_at) for r in rows] == [("2025-07-01", "en", None)]
    assert rows[0].subject.startswith("Media monitoring digest") and "TOP STORIES" in rows[0].text
    assert rows[0].html.count("data:image/png;base64,") == 2  # the archive shows without mail


def test_send_once_to_recipients_with_inline_charts(make_app: AppFactory) -> None:
    data = fixture_data()
    app = make_app(
        sources_of(data),
        analysis={"analyser": "keyword"},
        oncall={"people": PEOPLE},
        digest={"recipients": ["truc-ban", "lanh-dao", "phong-vien"]},
    )
    f = fill(app)
    app.channels["email"] = email = FakeEmail()

    first = digest.run(app, f.day, send=True, now=f.now).delivery
    again = digest.run(app, f.day, send=True, now=f.now).delivery

    assert first is not None and first.sent == ["truc-ban", "lanh-dao"]
    assert first.skipped == ["phong-vien: has no email"]
    assert [to for to, _ in email.sent] == ["trucban@stttt.example.vn", "lanhdao@stttt.example.vn"]
    message = email.sent[0][1]
    assert [cid for cid, _ in message.images] == ["volume", "sentiment"]
    assert (
        "cid:volume" in (message.html or "") and message.key == "digest:2025-07-01:truc-ban:email"
    )
    assert message.text.startswith("BẢN TIN GIÁM SÁT")
    assert again is not None and again.sent_before is not None and len(email.sent) == 2
    forced = digest.run(app, f.day, send=True, force=True, now=f.now).delivery
    assert forced is not None and forced.sent == ["truc-ban", "lanh-dao"] and len(email.sent) == 4


def test_a_failed_recipient_is_retried_alone(filled: tuple[App, Filled]) -> None:
    app, f = filled
    app.channels["email"] = email = FakeEmail(refuse=("lanhdao@stttt.example.vn",))

    first = digest.run(app, f.day, send=True, now=f.now).delivery
    email.refuse.clear()
    second = digest.run(app, f.day, send=True, now=f.now).delivery

    assert first is not None and first.failed == [("lanh-dao", "email: lanhdao@stttt.example.vn refused")]  # fmt: skip
    assert second is not None and (second.already, second.sent) == (["truc-ban"], ["lanh-dao"])
    assert [to for to, _ in email.sent] == ["trucban@stttt.example.vn", "lanhdao@stttt.example.vn"]
    with app.sessions() as session:
        assert session.scalar(select(Digest.sent_at)) is not None


def test_sending_without_an_email_channel_says_so(filled: tuple[App, Filled]) -> None:
    app, f = filled
    with pytest.raises(ConfigError, match="notify.channels.email"):
        digest.run(app, f.day, send=True, now=f.now)


def _cli() -> typer.Typer:
    """The top-level command with `digest` registered as cli.py registers it."""
    cli = typer.Typer()
    cli.callback()(main_options)
    cli.command()(digest_command)
    return cli


def test_cli_writes_a_page_with_inline_charts(
    database: Database, make_app: AppFactory, tmp_path: Path
) -> None:
    if database.backend != "sqlite":
        pytest.skip("the command reads its database from a config file (SQLite here)")
    data = fixture_data()
    fill(make_app(sources_of(data), analysis={"analyser": "keyword"}))
    config = tmp_path / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "database": {"url": database.url},
                "sources": sources_of(data),
                "analysis": {"analyser": "keyword"},
            }
        ),  # fmt: skip
        encoding="utf-8",
    )
    out, runner = tmp_path / "digest.html", CliRunner()

    result = runner.invoke(_cli(), ["--config", str(config), "digest", "--date", "2025-07-01", "--out", str(out)])  # fmt: skip
    bad_date = runner.invoke(_cli(), ["--config", str(config), "digest", "--date", "1/7/2025"])
    no_channel = runner.invoke(_cli(), ["--config", str(config), "digest", "--date", "2025-07-01", "--send"])  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "15 tin (+50%), 2 sự vụ mới" in result.output
    assert out.read_text(encoding="utf-8").count("data:image/png;base64,") == 2
    assert bad_date.exit_code == 2 and no_channel.exit_code == 2
    assert "notify.channels.email" in no_channel.output


def test_daily_job_sends_yesterdays_digest_at_send_at(make_app: AppFactory) -> None:
    app = make_app([], digest={"enabled": True, "send_at": "06:30"}, oncall={"people": PEOPLE})
    app.channels["email"] = email = FakeEmail()
    sched = scheduler.build_scheduler(app)
    scheduler.schedule_digest(app, sched)
    job = sched.get_job("digest")
    assert job is not None and str(job.trigger) == "cron[hour='6', minute='30']"

    jobs.bind(app)
    try:
        outcome = jobs.send_digest()
    finally:
        jobs.bind(None)
    assert outcome.data.day == digest.previous_day(app.settings) and len(email.sent) == 2
    assert outcome.data.total == 0 and "Không có." in outcome.rendered.text
