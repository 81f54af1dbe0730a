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
            r"unknown source kind 'telepathy'; known kinds: atom, rss",
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


def _setting_names(model: type[BaseModel]) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        names.append(name)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names += _setting_names(field.annotation)
    return names


def test_every_setting_is_documented_in_the_shipped_config() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    missing = [n for n in _setting_names(Settings) if not re.search(rf"\b{n}\b", text)]
    from monitor.config import SourceSettings

    missing += [n for n in SourceSettings.model_fields if not re.search(rf"\b{n}\b", text)]
    assert missing == []
