"""Settings: defaults, the file, environment overrides, and errors that say where and what."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor.bootstrap import build_analyser
from monitor.config import Settings
from monitor.configfile import load_settings
from monitor.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "config.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads_with_real_sources() -> None:
    settings = load_settings(SHIPPED, env={})
    urls = [s.url for s in settings.sources]
    assert len(settings.sources) >= 10
    assert any("vnexpress.net/rss" in u for u in urls) and any(
        "news.google.com/rss/search" in u for u in urls
    )
    assert settings.timezone == "Asia/Ho_Chi_Minh"
    assert settings.database.url == f"sqlite:///{REPO / 'data' / 'monitor.db'}"


def test_minimal_source_needs_only_id_kind_url(tmp_path: Path) -> None:
    path = _write(tmp_path, "sources:\n  - {id: a, kind: rss, url: 'http://127.0.0.1/f.rss'}\n")
    source = load_settings(path, env={}).sources[0]
    assert (source.interval, source.enabled, source.options["item_kind"]) == (900, True, "news")


def test_file_overrides_defaults_and_env_overrides_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "http:\n  max_bytes: 5000\n  read_timeout: 7\ndatabase:\n  url: sqlite:///x.db\n"
    )
    settings = load_settings(
        path,
        env={
            "MONITOR_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "MONITOR_HTTP_MAX_BYTES": "100",
        },
    )
    assert settings.database.url == "postgresql+psycopg://u@h/db"
    assert settings.http.max_bytes == 100
    assert settings.http.read_timeout == 7
    assert settings.http.connect_timeout == 10  # default kept


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, ""), env={})
    with pytest.raises(ValueError):
        settings.timezone = "UTC"  # type: ignore[misc]


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, "timezone: UTC\n")
    assert load_settings(env={"MONITOR_CONFIG": str(path)}).timezone == "UTC"
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(env={"MONITOR_CONFIG": str(tmp_path / "missing.yaml")})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("databse:\n  url: x\n", r"config.yaml:1: databse: Extra inputs are not permitted"),
        (
            "http:\n  max_bytes: lots\n",
            r"config.yaml:2: http.max_bytes: Input should be a valid integer",
        ),
        (
            "timezone: Mars/Olympus\n",
            r"config.yaml:1: timezone: .*unknown time zone 'Mars/Olympus'",
        ),
        ("sources:\n  - {id: a, kind: rss}\n", r"config.yaml:2: sources.0.url: Field required"),
        (
            "sources:\n  - {id: a, kind: telepathy, url: 'http://x'}\n",
            r"unknown source kind 'telepathy'; known kinds: atom, facebook, forum, gnews, html, manual, rss, sitemap, youtube",
        ),
        (
            "sources:\n  - {id: a, kind: rss, url: 'http://x', interval: soon}\n",
            r"sources.0.interval: .*not a duration",
        ),
        (
            "sources:\n  - {id: a, kind: rss, url: 'http://x', options: {max_itmes: 3}}\n",
            r"unknown option.*max_itmes",
        ),
        (
            "sources:\n  - {id: a, kind: rss, url: 'http://x'}\n  - {id: a, kind: rss, url: 'http://y'}\n",
            r"source id 'a' is used twice",
        ),
        ("province: [oops\n", r"not valid YAML"),
        ("- a\n- b\n", r"top level must be a mapping"),
    ],
)
def test_bad_config_names_file_line_key_and_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(_write(tmp_path, text), env={})


def test_bad_environment_variable_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    with pytest.raises(
        ConfigError, match="environment variable MONITOR_HTTP_MAX_BYTES: http.max_bytes"
    ):
        load_settings(path, env={"MONITOR_HTTP_MAX_BYTES": "many"})
    with pytest.raises(ConfigError, match="MONITOR_NOPE: names no setting"):
        load_settings(path, env={"MONITOR_NOPE": "1"})


def test_unknown_province_fails_at_start_up_listing_known_ones(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, "province:\n  name: Atlantis\n"), env={})
    with pytest.raises(ConfigError, match=r"province.name: 'Atlantis' .* known: .*Nam Định"):
        build_analyser(settings)


def _sections(text: str) -> dict[str, str]:
    """The shipped file cut into its top-level sections, each with the comments above it."""
    starts = list(re.finditer(r"^(?:#.*\n)*([a-z_]+):", text, re.M))
    ends = [m.start() for m in starts[1:]] + [len(text)]
    return {m.group(1): text[m.start() : end] for m, end in zip(starts, ends, strict=True)}


def test_every_setting_is_documented_in_its_section_of_the_shipped_config() -> None:
    from monitor.config import SourceSettings

    sections = _sections(SHIPPED.read_text(encoding="utf-8"))
    missing = []
    for name, field in Settings.model_fields.items():
        block = sections.get(name, "")
        model = field.annotation if isinstance(field.annotation, type) else None
        keys = list(model.model_fields) if model and issubclass(model, BaseModel) else []
        if name == "sources":
            keys = list(SourceSettings.model_fields)
        # Each key appears as "key:" or in the comment that documents it, within its own section.
        missing += [
            f"{name}.{k}" for k in keys if not re.search(rf"(^|#|\s){k}(:|\s)", block, re.M)
        ]
        if not block:
            missing.append(name)
    assert missing == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nonsense", r"config.yaml:2: database.url: .*not a database URL: 'nonsense'"),
        ("mysql://u@h/db", r"config.yaml:2: database.url: .*no driver for 'mysql' is installed"),
    ],
)
def test_bad_database_url_fails_at_start_up(tmp_path: Path, url: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(_write(tmp_path, f"database:\n  url: {url}\n"), env={})


def test_environment_values_are_taken_as_text_not_yaml(tmp_path: Path) -> None:
    env = {
        "MONITOR_HTTP_USER_AGENT": "Bot: x",
        "MONITOR_DIGEST_SEND_AT": "12:30",
        "MONITOR_PROVINCE_NAME": "no",
        "MONITOR_PROVINCE_ALIASES": "[Thành Nam, Nam Định cũ]",
        "MONITOR_DATABASE_ECHO": "false",
    }
    settings = load_settings(_write(tmp_path, ""), env=env)
    assert settings.http.user_agent == "Bot: x"
    assert settings.digest.send_at == "12:30"
    assert settings.province.name == "no"
    assert settings.province.aliases == ("Thành Nam", "Nam Định cũ")
    assert settings.database.echo is False


def test_unquoted_clock_time_in_the_file_is_understood(tmp_path: Path) -> None:
    assert (
        load_settings(_write(tmp_path, "digest:\n  send_at: 17:05\n"), env={}).digest.send_at
        == "17:05"
    )


def test_an_oncall_policy_for_one_severity_keeps_the_others_defaults() -> None:
    settings = Settings.model_validate(
        {"oncall": {"policy": {"alert": {"steps": [{"tier": 1, "after": "5m"}]}}}}
    )

    policy = settings.oncall.policy
    assert policy["alert"].steps[0].after == 300
    assert [step.tier for step in policy["critical"].steps] == [1, 2, 3]  # still escalates
    assert policy["watch"].steps == ()
