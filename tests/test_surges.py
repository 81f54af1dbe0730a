"""Surges: hourly counts from the pipeline, the rule on synthetic counts, cases, the job and the CLI.

Detection tests write the hourly counts directly (fast) and pass the time in; nothing sleeps.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from monitor import jobs, surges
from monitor.bootstrap import App
from monitor.pipeline import crawl_source
from monitor.scheduler import SURGES_FUNC, build_scheduler, schedule_surges, serve
from monitor.storage import db, surgecounts
from monitor.storage.models import Case, CaseEvent, HourlyCount, utcnow
from monitor.surges import HOUR, Plan, floor_hour, judge
from monitor.surges_cli import surges as surges_command
from tests.conftest import AppFactory, FeedServer, make_settings

T = datetime(2025, 7, 1, 3, 30, tzinfo=UTC)  # 10:30 in Nam Định
PLACE = "Huyện Hải Hậu"
BURST_KEYS = {
    ("province", "all"): (4, 1),  # the usual (total, negative) per hour
    ("topic", "land_planning"): (1, 1),
    ("place", PLACE): (1, 1),
    ("topic_place", f"land_planning@{PLACE}"): (1, 1),
}
LAND = "Người dân huyện Hải Hậu, tỉnh Nam Định bức xúc vì thu hồi đất làm dự án"
LAND_TEXT = "Nhiều hộ dân khiếu nại việc bồi thường giải phóng mặt bằng không thỏa đáng."
Row = dict[tuple[datetime, str, str], tuple[int, int]]


def _put(app: App, rows: Row) -> None:
    with db.transaction(app.sessions) as session:
        surgecounts.add_counts(session, rows)


def _history(
    keys: dict[tuple[str, str], tuple[int, int]], end: datetime, hours: int = 15 * 24
) -> Row:
    """Each of the ``hours`` hours before ``end`` at each key's usual counts."""
    before = [end - i * HOUR for i in range(1, hours + 1)]
    return {(h, dim, key): usual for h in before for (dim, key), usual in keys.items()}


def _burst(hour: datetime, items: int) -> Row:
    """``items`` negative land-planning items about Hải Hậu in one hour, on top of the province's usual."""
    rows = {(hour, dim, key): (items, items) for dim, key in BURST_KEYS}
    rows[(hour, "province", "all")] = (items + 4, items + 1)
    return rows


def _cases(app: App) -> list[Case]:
    with app.sessions() as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def _events(app: App, case_id: int) -> list[tuple[str, dict]]:
    with app.sessions() as session:
        rows = session.execute(
            select(CaseEvent.action, CaseEvent.detail)
            .where(CaseEvent.case_id == case_id)
            .order_by(CaseEvent.id)
        )
        return [(action, detail) for action, detail in rows]


@pytest.fixture
def quiet_app(make_app: AppFactory) -> App:
    return make_app([], analysis={"analyser": "keyword"})


def test_a_burst_opens_one_case_and_continues_it(quiet_app: App) -> None:
    app, hour = quiet_app, floor_hour(T)
    _put(app, _history(BURST_KEYS, hour))
    _put(app, _burst(hour, 14))

    first = surges.run(app, T)

    title = (
        "Đột biến: 14 tin tiêu cực về Đất đai, quy hoạch, giải phóng mặt bằng tại huyện Hải Hậu "
        "trong 1 giờ qua (thường 1)"
    )
    [(surge, outcome)] = first
    assert (surge.surge_key, surge.recent, surge.usual, surge.negative) == (
        f"topic_place:land_planning@{PLACE}", 14, 1.0, 14,
    )  # fmt: skip
    # The province, the topic and the place surged because of it: folded in, not cases of their own.
    assert set(surge.covers) == {"province:all", "topic:land_planning", f"place:{PLACE}"}
    [case] = _cases(app)
    assert (case.kind, case.surge_key, case.title) == ("surge", surge.surge_key, title)
    assert (case.severity, case.notified_severity, outcome.action) == ("alert", "alert", "opened")
    events = _events(app, case.id)
    assert [a for a, _ in events] == ["opened", "notify"]
    assert events[0][1]["recent"] == 14 and events[0][1]["usual_negative"] == 1.0

    # An hour later, as many again: the same case goes on, and staff are not told twice.
    _put(app, _burst(hour + HOUR, 14))
    [(again, outcome)] = surges.run(app, T + HOUR)
    assert (outcome.action, outcome.notified, again.usual) == ("surge_continues", False, 25 / 12)
    assert len(_cases(app)) == 1
    # A later pass in the same hour with nothing new adds nothing to the trail.
    assert surges.run(app, T + HOUR + timedelta(minutes=15))[0][1].action == "unchanged"

    # Rising to critical (3 x min_count negative items) notifies again.
    _put(app, _burst(hour + 2 * HOUR, 20))
    [(_, outcome)] = surges.run(app, T + 2 * HOUR)
    [case] = _cases(app)
    assert (case.severity, case.notified_severity, outcome.notified) == ("critical",) * 2 + (True,)
    assert [a for a, _ in _events(app, case.id)] == [
        "opened", "notify", "surge_continues", "surge_continues", "notify",
    ]  # fmt: skip


def test_a_burst_late_in_the_hour_is_judged_once_the_hour_is_over(quiet_app: App) -> None:
    hour = floor_hour(T)
    _put(quiet_app, _history(BURST_KEYS, hour))
    _put(quiet_app, _burst(hour, 14))
    # 11:00:05: the new hour has nothing yet, the one just over is judged whole.
    [(surge, _)] = surges.run(quiet_app, hour + HOUR + timedelta(seconds=5))
    assert surge.hour == hour and surge.recent == 14


def test_a_steady_stream_does_not_fire(quiet_app: App) -> None:
    steady = {("province", "all"): (5, 2), ("topic", "health"): (5, 2)}
    hour = floor_hour(T)
    _put(quiet_app, _history(steady, hour + HOUR))  # the current hour too: 5 items, as always
    with quiet_app.sessions() as session:
        assert surges.detect(session, quiet_app.settings, T) == []
    assert _cases(quiet_app) == []


def test_a_quiet_topic_needs_min_count(quiet_app: App) -> None:
    hour = floor_hour(T)
    _put(quiet_app, _history({("province", "all"): (0, 0)}, hour))  # counting went on, no health
    _put(quiet_app, {(hour, "topic", "health"): (3, 0)})
    with quiet_app.sessions() as session:
        assert surges.detect(session, quiet_app.settings, T) == []
    _put(quiet_app, {(hour, "topic", "health"): (2, 0)})  # now 5: the minimum, from nothing
    with quiet_app.sessions() as session:
        [surge] = surges.detect(session, quiet_app.settings, T)
    assert (surge.key, surge.of_total, surge.of_negative) == ("health", True, False)
    # Case_on negative (the default): a surge of ordinary coverage opens no case.
    assert surges.run(quiet_app, T) == [] and _cases(quiet_app) == []


def test_nothing_is_judged_before_a_baseline_was_counted(quiet_app: App) -> None:
    hour = floor_hour(T)
    _put(quiet_app, _history(BURST_KEYS, hour, hours=23))  # not yet this hour of another day
    _put(quiet_app, _burst(hour, 40))
    assert surges.run(quiet_app, T) == []
    _put(quiet_app, _history(BURST_KEYS, hour - 23 * HOUR, hours=1))  # now it has been a day
    assert len(surges.run(quiet_app, T)) == 1


def test_the_history_test_holds_back_an_hour_that_is_often_busy() -> None:
    cfg = make_settings().surges
    end = floor_hour(T)
    plan = Plan.ending(end, cfg, end - timedelta(days=30))
    # Quiet the 12 hours before, but this hour of the day swings: 0 or 4 items (mean 2, std 2).
    counts = {day[0]: (4 * (i % 2), 0) for i, day in enumerate(plan.days)}
    assert judge("topic", "x", {**counts, end: (8, 0)}, plan, cfg) is None  # not above 2 + 3 x 2
    surge = judge("topic", "x", {**counts, end: (9, 0)}, plan, cfg)
    assert surge is not None and surge.history == (2.0, 2.0)


def test_counting_is_safe_under_concurrent_runs(quiet_app: App) -> None:
    hour = floor_hour(T)

    def add(_: int) -> None:
        _put(quiet_app, {(hour, "province", "all"): (1, 1), (hour, "topic", "health"): (1, 0)})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(add, range(40)))
    with quiet_app.sessions() as session:
        rows = session.execute(select(HourlyCount.key, HourlyCount.total, HourlyCount.negative))
        assert sorted(tuple(r) for r in rows) == [("all", 40, 40), ("health", 40, 0)]


def _feed(items: list[tuple[str, str, str, datetime | None]]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><description>{text}</description>"
        + (f"<pubDate>{format_datetime(when)}</pubDate>" if when else "")
        + "</item>"
        for title, text, link, when in items
    )
    return f'<rss version="2.0"><channel><title>t</title>{entries}</channel></rss>'.encode()


def _counts(app: App) -> dict[tuple[str, str], tuple[int, int]]:
    with app.sessions() as session:
        rows = session.execute(
            select(HourlyCount.dimension, HourlyCount.key, HourlyCount.total, HourlyCount.negative)
        )
        return {(d, k): (t, n) for d, k, t, n in rows}


def test_the_pipeline_counts_new_relevant_items_once(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    now = utcnow()
    route = feed_server.add(
        "/f.rss",
        _feed(
            [
                (LAND, LAND_TEXT, "https://a.vn/1", now),
                ("Cháy lớn tại chợ ở huyện Hải Hậu, tỉnh Nam Định", "Vụ cháy khiến 2 người tử vong.", "https://a.vn/2", None),
                ("Giá vàng hôm nay tăng nhẹ", "", "https://a.vn/3", now),
            ]
        ),
    )  # fmt: skip
    app = make_app([{"id": "f", "kind": "rss", "url": feed_server.url("/f.rss")}])

    crawl_source(app, "f")
    route.body = route.body.replace(b"2 ng", b"3 ng")
    second = crawl_source(app, "f")

    assert (second.new, second.updated) == (0, 1)  # analysed again, but not new coverage

    assert _counts(app) == {
        ("province", "all"): (2, 2),
        ("place", PLACE): (2, 2),
        ("topic", "land_planning"): (1, 1),
        ("topic", "public_order"): (1, 1),
        ("topic_place", f"land_planning@{PLACE}"): (1, 1),
        ("topic_place", f"public_order@{PLACE}"): (1, 1),
    }
    with app.sessions() as session:
        assert set(session.scalars(select(HourlyCount.hour))) <= {
            floor_hour(now),
            floor_hour(utcnow()),
        }


def test_backlog_seen_on_a_first_crawl_is_not_counted(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    old = utcnow() - timedelta(days=3)
    backlog = [(f"Tin số {n} về dự án đường ở huyện Hải Hậu, tỉnh Nam Định", "Khởi công tuyến đường mới.", f"https://a.vn/{n}", old) for n in range(50)]  # fmt: skip
    fresh = (LAND, LAND_TEXT, "https://a.vn/new", None)
    feed_server.add("/f.rss", _feed([*backlog, fresh]))
    app = make_app([{"id": "f", "kind": "rss", "url": feed_server.url("/f.rss")}])

    report = crawl_source(app, "f")

    assert report.new == 51
    assert _counts(app)[("province", "all")] == (1, 1)


def test_the_job_is_scheduled_every_surges_every_only_when_enabled(make_app: AppFactory) -> None:
    on = make_app([], analysis={"analyser": "keyword"}, surges={"every": "10m"})
    scheduler = build_scheduler(on)
    schedule_surges(on, scheduler)
    job = scheduler.get_job("surges")
    assert (job.func_ref, job.coalesce, job.max_instances) == (SURGES_FUNC, True, 1)
    assert job.trigger.interval.total_seconds() == 600

    off = make_app([], analysis={"analyser": "keyword"}, surges={"enabled": False})
    scheduler = build_scheduler(off)
    off.stopping.set()  # serve returns at once, after scheduling what it schedules
    serve(off, scheduler)
    assert scheduler.get_job("surges") is None


def test_the_job_runs_the_detection_on_the_bound_app(quiet_app: App) -> None:
    hour = floor_hour(utcnow())
    _put(quiet_app, _history(BURST_KEYS, hour))
    _put(quiet_app, _burst(hour, 14))
    with pytest.raises(RuntimeError):
        jobs.detect_surges()
    jobs.bind(quiet_app)
    try:
        # Even if the hour turned since, the hour just over is still judged.
        [(surge, outcome)] = jobs.detect_surges()
    finally:
        jobs.bind(None)
    assert (surge.dimension, outcome.action) == ("topic_place", "opened")


def _cli() -> typer.Typer:
    """``monitor``'s option handling with only the surges command (cli.py registers it)."""
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context, config: Path = typer.Option(...)) -> None:  # noqa: B008
        ctx.obj = {"config": config}

    app.command()(surges_command)
    return app


def test_the_cli_prints_the_surges_at_a_time(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database:\n  url: sqlite:///{tmp_path / 'm.db'}\nanalysis:\n  analyser: keyword\n",
        encoding="utf-8",
    )
    from monitor.bootstrap import build_app
    from monitor.configfile import load_settings

    app = build_app(load_settings(config))
    hour = floor_hour(T)
    _put(app, _history(BURST_KEYS, hour))
    _put(app, _burst(hour, 14))
    surges.run(app, T)
    app.close()
    runner = CliRunner()

    at_burst = runner.invoke(
        _cli(), ["--config", str(config), "surges", "--at", "2025-07-01T10:30"]
    )
    later = runner.invoke(_cli(), ["--config", str(config), "surges", "--at", "2025-07-02T10:30"])
    bad = runner.invoke(_cli(), ["--config", str(config), "surges", "--at", "yesterday"])

    assert at_burst.exit_code == 0, at_burst.output
    assert "topic_place" in at_burst.output and "surges at 2025-07-01 10:30" in at_burst.output
    row = next(line for line in at_burst.output.splitlines() if "topic_place" in line)
    assert [cell.strip() for cell in row.split("│")[3:7]] == ["14", "1.0", "14 (usual 1.0)", "1"]
    assert later.exit_code == 0 and "no surges at 2025-07-02 10:30" in later.output
    assert bad.exit_code == 2 and "not an ISO time" in bad.output
