"""The ``monitor`` command as a user runs it: exit codes, tables, and the crawl/re-crawl contract."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import cli
from tests.conftest import VNEXPRESS_FEED, FeedServer

runner = CliRunner()


def _config(tmp_path: Path, sources: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database:\n  url: sqlite:///data/test.db\nscheduler:\n  jitter: 0\nsources:\n{sources}",
        encoding="utf-8",
    )
    return path


def test_crawl_once_stores_25_then_none_new(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add(
        "/tin-moi-nhat.rss", VNEXPRESS_FEED.read_bytes(), Content_Type="application/rss+xml"
    )
    config = _config(
        tmp_path, f"  - {{id: vne, kind: rss, url: '{feed_server.url('/tin-moi-nhat.rss')}'}}\n"
    )

    first = runner.invoke(cli, ["--config", str(config), "crawl", "--once"])
    second = runner.invoke(cli, ["--config", str(config), "crawl", "--once"])
    listed = runner.invoke(cli, ["--config", str(config), "items", "list", "-n", "30"])

    assert first.exit_code == 0, first.output
    assert "│ vne    │ ok     │ 25      │ 25  │" in first.output
    assert second.exit_code == 0 and "│ 25      │ 0   │ 0       │" in second.output
    assert "Chủ tịch Đà Nẵng tri ân" in listed.output
    assert (tmp_path / "data" / "test.db").exists()  # relative to the config file, not the cwd


def test_crawl_reports_failure_with_exit_1_and_keeps_others(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add("/ok.rss", VNEXPRESS_FEED.read_bytes())
    config = _config(
        tmp_path,
        f"  - {{id: ok, kind: rss, url: '{feed_server.url('/ok.rss')}'}}\n"
        "  - {id: down, kind: rss, url: 'http://127.0.0.1:9/feed.rss'}\n",
    )
    result = runner.invoke(cli, ["--config", str(config), "crawl", "--once"])
    health = runner.invoke(cli, ["--config", str(config), "sources", "list"])

    assert result.exit_code == 1
    assert "│ ok     │ ok     │ 25" in result.output and "│ down   │ error" in result.output
    assert "network" in health.output  # the stored error, in the health table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["crawl"], "crawl needs --once"),
        (["crawl", "--once", "--source", "nope"], "unknown source id(s): nope"),
        (["items", "list", "--severity", "huge"], "--severity must be one of"),
        (["items", "list", "--since", "yesterday"], "--since: not a duration"),
    ],
)
def test_bad_usage_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    config = _config(tmp_path, "  - {id: a, kind: rss, url: 'http://127.0.0.1:9/x'}\n")
    result = runner.invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_bad_config_exits_2_naming_the_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "  - {id: a, kind: rss, url: 'http://x', intervall: 5}\n")
    result = runner.invoke(cli, ["--config", str(config), "sources", "list"])
    assert result.exit_code == 2
    assert (
        "config.yaml:6: sources.0.intervall: Extra inputs are not permitted"
        in result.output.replace("\n", "")
    )


def test_init_writes_the_shipped_config_once(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    first = runner.invoke(cli, ["--config", str(target), "init"])
    second = runner.invoke(cli, ["--config", str(target), "init"])
    assert first.exit_code == 0 and "wrote" in first.output
    assert "already exists" in " ".join(second.output.split())
    assert target.read_text(encoding="utf-8") == (
        Path(__file__).resolve().parents[1] / "config.yaml"
    ).read_text(encoding="utf-8")


def test_db_upgrade(tmp_path: Path) -> None:
    config = _config(tmp_path, "  []\n")
    result = runner.invoke(cli, ["--config", str(config), "db", "upgrade"])
    assert result.exit_code == 0 and "database at head" in result.output


def test_run_without_network_records_errors_keeps_running_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    # Ports 9 and 1 refuse connections, as every host does on a machine with no network.
    config = _config(
        tmp_path,
        "  - {id: one, kind: rss, url: 'http://127.0.0.1:9/feed.rss'}\n"
        "  - {id: two, kind: rss, url: 'http://127.0.0.1:1/feed.rss'}\n",
    )
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    watchdog = threading.Timer(60, proc.kill)  # if the log never says so, fail instead of hanging
    watchdog.start()
    failed: set[str] = set()
    for line in proc.stderr:
        for source in ("one", "two"):
            if f"source {source} failed" in line:
                failed.add(source)
        if failed == {"one", "two"}:
            break
    assert proc.poll() is None, "the monitor exited after its sources failed"
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=60)
    watchdog.cancel()
    assert proc.returncode == 0, rest
    assert "stopping" in rest
    status = runner.invoke(cli, ["--config", str(config), "sources", "list"])
    assert status.output.count("error") >= 2


def test_items_list_filters(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add(
        "/f.rss",
        """<rss version="2.0"><channel><title>t</title>
        <item><title>Cháy chợ ở huyện Hải Hậu</title><link>https://a.vn/1</link>
        <pubDate>Tue, 01 Jul 2025 08:00:00 +0700</pubDate></item>
        <item><title>Lễ hội ở tỉnh Nam Định</title><link>https://a.vn/2</link>
        <pubDate>Tue, 01 Jul 2025 09:00:00 +0700</pubDate></item>
        <item><title>Giá vàng hôm nay</title><link>https://a.vn/3</link>
        <pubDate>Tue, 01 Jul 2025 10:00:00 +0700</pubDate></item>
        </channel></rss>""".encode(),
    )
    config = _config(tmp_path, f"  - {{id: f, kind: rss, url: '{feed_server.url('/f.rss')}'}}\n")
    assert runner.invoke(cli, ["--config", str(config), "crawl", "--once"]).exit_code == 0

    def titles(*args: str) -> list[str]:
        out = runner.invoke(cli, ["--config", str(config), "items", "list", *args]).output
        return [t for t in ("Cháy chợ", "Lễ hội", "Giá vàng") if t in out]

    assert titles() == ["Cháy chợ", "Lễ hội", "Giá vàng"]
    assert titles("--relevant") == ["Cháy chợ", "Lễ hội"]
    assert titles("--severity", "alert") == ["Cháy chợ"]
    assert titles("--since", "1h") == []


def test_notify_status_shows_a_channel_that_keeps_failing(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from monitor.storage import db, notifystore

    config = _config(tmp_path, "  []\n")
    empty = runner.invoke(cli, ["--config", str(config), "notify", "status"])
    engine = db.make_engine(f"sqlite:///{tmp_path / 'data' / 'test.db'}")
    with db.transaction(db.session_factory(engine)) as session:
        for _ in range(3):
            notifystore.channel_result(
                session, "telegram", datetime.now(UTC), "telegram: HTTP 502 from the Bot API"
            )
    engine.dispose()
    failing = runner.invoke(cli, ["--config", str(config), "notify", "status"])

    assert empty.exit_code == 0 and "no notifications sent yet" in empty.output
    assert failing.exit_code == 0, failing.output
    assert "telegram" in failing.output and "│ 3 " in failing.output
