"""Reading settings: the YAML file (with line numbers for errors) and ``MONITOR_*`` overrides."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from monitor.config import DEFAULT_CONFIG, RESERVED_ENV, Settings
from monitor.errors import ConfigError

logger = logging.getLogger(__name__)

Loc = tuple[str | int, ...]


def config_path(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The config file in force: ``--config``, else ``MONITOR_CONFIG``, else ``./config.yaml``."""
    env = os.environ if env is None else env
    if explicit is not None:
        return explicit
    return Path(env["MONITOR_CONFIG"]) if env.get("MONITOR_CONFIG") else DEFAULT_CONFIG


def _line_map(
    node: yaml.Node | None, loc: Loc = (), out: dict[Loc, int] | None = None
) -> dict[Loc, int]:
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, str(key.value))
            out[child] = key.start_mark.line + 1
            _line_map(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            out[(*loc, index)] = value.start_mark.line + 1
            _line_map(value, (*loc, index), out)
    return out


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[Loc, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    try:
        data = yaml.safe_load(text)
        lines = _line_map(yaml.compose(text))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of sections, not {type(data).__name__}"
        )
    return data, lines


def _env_target(model: type[BaseModel], rest: str) -> list[str] | None:
    # MONITOR_DATABASE_URL -> ["database", "url"]: match field names greedily at "_" boundaries.
    for name, field in sorted(model.model_fields.items(), key=lambda kv: -len(kv[0])):
        if rest == name:
            return [name]
        sub = field.annotation
        if rest.startswith(name + "_") and isinstance(sub, type) and issubclass(sub, BaseModel):
            tail = _env_target(sub, rest[len(name) + 1 :])
            if tail:
                return [name, *tail]
    return None


def _env_value(raw: str) -> Any:
    # Pydantic turns "30" or "false" into the field's type; YAML only for lists and mappings, so
    # that "Bot: x" stays a string and "12:30" is not read as a base-60 number.
    if raw.lstrip().startswith(("[", "{")):
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            return raw
    return raw


def _apply_env(data: dict[str, Any], env: Mapping[str, str], sources: dict[Loc, str]) -> None:
    for var, raw in sorted(env.items()):
        if not var.startswith("MONITOR_") or var.startswith(RESERVED_ENV):
            continue
        target = _env_target(Settings, var[len("MONITOR_") :].lower())
        if target is None:
            raise ConfigError(
                f"environment variable {var}: names no setting (e.g. MONITOR_DATABASE_URL)"
            )
        node = data
        for key in target[:-1]:
            child = node.get(key)
            node[key] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[target[-1]] = _env_value(raw)
        sources[tuple(target)] = f"environment variable {var}"


def _describe(
    error: Mapping[str, Any], path: Path | None, lines: dict[Loc, int], env_keys: dict[Loc, str]
) -> str:
    loc: Loc = tuple(error["loc"])
    # Pydantic appends validator names for union members; keep only the part that is a real key.
    key = ".".join(str(p) for p in loc)
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in env_keys:
            return f"{env_keys[loc[:cut]]}: {key}: {error['msg']}"
        if loc[:cut] in lines and path is not None:
            return f"{path}:{lines[loc[:cut]]}: {key}: {error['msg']}"
    where = str(path) if path is not None else "defaults"
    return f"{where}: {key}: {error['msg']}"


def load_settings(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load and validate the settings once; ConfigError says what is wrong and where."""
    env = os.environ if env is None else env
    candidate = config_path(explicit, env)
    path: Path | None = candidate
    data: dict[str, Any] = {}
    lines: dict[Loc, int] = {}
    if candidate.exists():
        data, lines = _read_yaml(candidate)
    elif explicit is not None or env.get("MONITOR_CONFIG"):
        raise ConfigError(f"{candidate}: config file not found")
    else:
        logger.warning(
            "no %s here: running on built-in defaults (monitor init writes one)", candidate
        )
        path = None
    env_keys: dict[Loc, str] = {}
    _apply_env(data, env, env_keys)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(e, path, lines, env_keys) for e in exc.errors(include_url=False)]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
    return _resolve_paths(settings, path)


def _resolve_paths(settings: Settings, path: Path | None) -> Settings:
    # A relative SQLite file lives beside the config file, not wherever the command was started.
    url = settings.database.url
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix + ":memory:" or url.startswith(prefix + "/"):
        return settings
    base = path.parent if path is not None else Path.cwd()
    absolute = (base / url[len(prefix) :]).resolve()
    database = settings.database.model_copy(update={"url": prefix + str(absolute)})
    return settings.model_copy(update={"database": database})
