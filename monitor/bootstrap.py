"""The composition root: the only place that builds the engine, HTTP client and analyser."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from crawlers.errors import TransientSourceError
from crawlers.fetcher import Fetcher, Politeness
from monitor.channels import build_channels
from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.storage import db, repo
from monitor.storage.db import Engine, Sessions
from monitor.storage.models import utcnow
from nlp.analyser import NlpAnalyser
from nlp.base import Analyser
from nlp.classify import MODELS_DIR, Classifier
from nlp.gazetteer import Gazetteer, known_provinces, load_gazetteer
from nlp.keyword import KeywordAnalyser
from nlp.places import PlaceMatcher
from nlp.relevance import RelevanceModel
from nlp.severity import SeverityModel

logger = logging.getLogger(__name__)
# Longer than any run can take (timeouts bound each fetch), so an older 'running' run is left over.
STALE_RUN = timedelta(hours=1)
# Staff submissions go here when config.yaml names no source of kind manual.
MANUAL_SOURCE = "manual"
MANUAL_NAME = "Tin do cán bộ gửi"


@dataclass
class App:
    """Everything a run needs, built once from settings."""

    settings: Settings
    engine: Engine
    sessions: Sessions
    fetcher: Fetcher
    analyser: Analyser
    stopping: threading.Event = field(default_factory=threading.Event)
    # Notification channels by name ("email", "telegram", "zalo", "webhook"), built from
    # settings.notify (monitor.channels); tests put fakes or local-server clients here.
    channels: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Release connections."""
        self.fetcher.client.close()
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()
        self.engine.dispose()


def build_http_client(
    settings: Settings, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An HTTP client with the configured identity and timeouts (the Fetcher follows redirects)."""
    cfg = settings.http
    return httpx.Client(
        headers={"User-Agent": cfg.user_agent, "Accept-Language": "vi,en;q=0.5"},
        timeout=httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout),
        follow_redirects=False,
        transport=transport,
    )


def polite_sleep(stopping: threading.Event) -> Callable[[float], None]:
    """A wait that shutdown cuts short by failing the request, so no polite pause is skipped."""

    def sleep(seconds: float) -> None:
        if stopping.wait(seconds):
            raise TransientSourceError("shutting down: the request was not sent")

    return sleep


def build_fetcher(
    settings: Settings,
    sleep: Callable[[float], object],
    transport: httpx.BaseTransport | None = None,
) -> Fetcher:
    """The one fetcher all sources share, so per-host limits hold across them."""
    cfg = settings.http
    policy = Politeness(
        user_agent=cfg.user_agent,
        per_host=cfg.per_host_concurrency,
        min_delay=cfg.min_delay,
        max_retries=cfg.max_retries,
        max_retry_wait=cfg.max_retry_wait,
        robots=cfg.robots,
        max_bytes=cfg.max_bytes,
        max_redirects=cfg.max_redirects,
        deadline=cfg.total_timeout,
        allowed_networks=cfg.allowed_networks,
    )
    return Fetcher(build_http_client(settings, transport), policy, sleep=sleep)


def build_analyser(
    settings: Settings, *, classify_all: bool = False, models_dir: Path | None = None
) -> Analyser:
    """The analyser for the configured province: the trained models (shipped, or those under
    ``models_dir``), or the keyword stand-in."""
    province = settings.province
    if settings.analysis.analyser == "keyword":
        gazetteer = _gazetteer(settings)
        return KeywordAnalyser(gazetteer, province.aliases, province.landmarks, province.keywords)
    models = models_dir or MODELS_DIR
    return NlpAnalyser(
        build_places(settings),
        Classifier.shipped("topic", models),
        Classifier.shipped("sentiment", models),
        SeverityModel(
            settings.severity.to_config(), directory=(models_dir or MODELS_DIR) / "severity"
        ),
        settings.topics,
        classify_irrelevant=classify_all or settings.analysis.classify_irrelevant,
        relevance=RelevanceModel(directory=models / "relevance"),
    )


def _gazetteer(settings: Settings) -> Gazetteer:
    name = settings.province.name
    try:
        return load_gazetteer(name)
    except KeyError:
        raise ConfigError(
            f"province.name: {name!r} is not a province in underthesea's address data; "
            f"known: {', '.join(known_provinces())}"
        ) from None


def build_places(settings: Settings) -> PlaceMatcher:
    """The configured province's place matcher (gazetteer, aliases, landmarks, keywords)."""
    province = settings.province
    return PlaceMatcher(
        _gazetteer(settings), province.aliases, province.landmarks, province.keywords
    )


def build_app(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    analyser: Analyser | None = None,
    engine: Engine | None = None,
    migrate: bool = True,
    sleep: Callable[[float], object] | None = None,
    channels: dict[str, Any] | None = None,
) -> App:
    """Build the application; with ``migrate`` the schema is brought to head and sources synced.

    ``channels`` replaces the notification channels built from ``settings.notify`` (tests)."""
    analyser = analyser or build_analyser(settings)
    engine = engine or db.make_engine(settings.database.url, echo=settings.database.echo)
    stopping = threading.Event()
    app = App(
        settings,
        engine,
        db.session_factory(engine),
        build_fetcher(settings, sleep or polite_sleep(stopping), transport),
        analyser,
        stopping,
        channels if channels is not None else dict(build_channels(settings.notify)),
    )
    if migrate:
        db.upgrade(engine)
        sync_sources(app)
    return app


def manual_source_id(settings: Settings) -> str:
    """Where staff submissions are stored: the configured ``manual`` source, else the built-in."""
    return next((s.id for s in settings.sources if s.kind == "manual"), MANUAL_SOURCE)


def sync_sources(app: App, stale_after: timedelta = STALE_RUN) -> None:
    """Store the configured sources and close runs a killed process left open.

    Another process may be crawling right now, so only runs older than ``stale_after`` count as
    left over; ``monitor run`` (the one long-lived crawler) passes zero.
    """
    configs = [
        repo.SourceConfig(s.id, s.kind, s.url, s.name, s.enabled) for s in app.settings.sources
    ]
    if not any(s.kind == "manual" for s in app.settings.sources):
        configs.append(repo.SourceConfig(MANUAL_SOURCE, "manual", "manual:", MANUAL_NAME, True))
    with db.transaction(app.sessions) as session:
        repo.sync_sources(session, configs)
        abandoned = repo.abandon_stale_runs(session, utcnow() - stale_after)
    if abandoned:
        logger.warning(
            "%d crawl run(s) left running by an earlier process marked abandoned", abandoned
        )
