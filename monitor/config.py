"""Settings: defaults in code, ``config.yaml`` overrides the keys it sets, ``MONITOR_*`` overrides that.

Loaded once at start-up into one frozen :class:`Settings`. Anything wrong raises ConfigError naming
the key, the file (and line) or the environment variable, and what is wrong.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    field_validator,
    model_validator,
)

from crawlers.errors import UnknownKindError
from crawlers.registry import get_adapter
from monitor.config_notify import CaseSettings, DigestSettings, NotifySettings, OnCallSettings
from monitor.durations import parse_duration
from monitor.health import HealthPolicy
from monitor.storage.db import check_url
from nlp.severity import DEFAULT_IGNORE, DEFAULT_LEXICON, DEFAULT_VIRAL, SeverityConfig

DEFAULT_CONFIG = Path("config.yaml")
# Environment variables that steer the loader or the tests rather than set a key.
RESERVED_ENV = ("MONITOR_CONFIG", "MONITOR_TEST_")
Seconds = Annotated[int, BeforeValidator(parse_duration), Field(gt=0)]
SecondsOrZero = Annotated[int, BeforeValidator(parse_duration), Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProvinceSettings(_Section):
    """The province watched; its administrative units come from underthesea's address data."""

    name: str = "Nam Định"
    aliases: tuple[str, ...] = ("Thành Nam", "Nam Định (cũ)", "Nam Định cũ")
    landmarks: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


class SourceSettings(_Section):
    """One source to collect from."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    kind: str
    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    name: str | None = None
    interval: Seconds = 900
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _check_kind_and_options(cls, data: Any) -> Any:
        # The adapter of the kind checks (and fills defaults into) the kind-specific options.
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            return data
        try:
            adapter = get_adapter(data["kind"])
        except UnknownKindError as exc:
            raise ValueError(str(exc)) from None
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise ValueError("options must be a mapping of option: value")
        return {**data, "options": adapter.validate_options(options)}


class DatabaseSettings(_Section):
    """Where items, cases and crawl history are stored."""

    url: Annotated[str, AfterValidator(check_url)] = "sqlite:///data/monitor.db"
    echo: bool = False


class HttpSettings(_Section):
    """How the crawlers talk to the web."""

    user_agent: str = (
        "ProvinceMonitor/0.1 (+https://github.com/province-monitor; public-content monitoring)"
    )
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    total_timeout: float = Field(default=120.0, gt=0)
    max_bytes: int = Field(default=10_000_000, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    per_host_concurrency: int = Field(default=2, ge=1, le=16)
    min_delay: float = Field(default=1.0, ge=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    max_retry_wait: float = Field(default=60.0, ge=0)
    robots: bool = True
    allowed_networks: tuple[IPvAnyNetwork, ...] = ()


class SchedulerSettings(_Section):
    """How ``monitor run`` schedules the sources."""

    jitter: SecondsOrZero = 30
    max_workers: int = Field(default=4, ge=1, le=64)
    retry_backoff: Seconds = 300
    max_backoff: Seconds = 21600


class HealthSettings(_Section):
    """When a failing source is disabled and a quiet one flagged silent (see monitor.health)."""

    hard_weight: float = Field(default=1.0, ge=0)
    temporary_weight: float = Field(default=0.4, ge=0)
    soft_weight: float = Field(default=0.1, ge=0)
    decay: float = Field(default=0.9, gt=0, le=1)
    recovery: float = Field(default=0.8, ge=0, lt=1)
    disable_at: float = Field(default=3.0, gt=0)
    silent_factor: float = Field(default=5.0, gt=1)
    silent_min: Seconds = 43200
    min_history: int = Field(default=5, ge=2)

    def to_policy(self) -> HealthPolicy:
        """The health policy these settings describe."""
        data = self.model_dump()
        return HealthPolicy(**{**data, "silent_min": timedelta(seconds=data["silent_min"])})


class StoriesSettings(_Section):
    """How copies of one article across outlets are grouped into one story (monitor.stories)."""

    # Estimated Jaccard similarity of two items' word 3-gram sets at or above which they are
    # copies of one story (a rewrite with a new headline or a trimmed paragraph stays above it).
    similarity: float = Field(default=0.5, gt=0, le=1)
    shingle_words: int = Field(default=3, ge=1, le=8)
    # MinHash permutations, split into bands of num_perm / bands rows for the LSH index.
    num_perm: int = Field(default=128, ge=16, le=512)
    bands: int = Field(default=32, ge=1, le=256)
    # Items older than this are no longer matched (their bands are pruned): a story's copies
    # appear within days, and the index stays the same size however long the history grows.
    window: Seconds = 14 * 86400
    # Texts with fewer words are matched only as exact copies (too short for near-duplicates).
    min_words: int = Field(default=12, ge=1)
    # Hosts whose copy represents a story before others (official and provincial press).
    authoritative_hosts: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _bands_divide_perms(self) -> StoriesSettings:
        if self.num_perm % self.bands:
            raise ValueError(f"bands ({self.bands}) must divide num_perm ({self.num_perm})")
        return self


class SurgesSettings(_Section):
    """When coverage of the province, a topic or a place counts as a surge (monitor.surges)."""

    enabled: bool = True
    # How often `monitor run` looks for surges.
    every: Seconds = 900
    # The last `recent_hours` are compared with the `compare_hours` before them...
    recent_hours: int = Field(default=1, ge=1, le=24)
    compare_hours: int = Field(default=12, ge=1, le=168)
    # ...and with the same hour of the day over the last `history_days` (mean + k x std).
    history_days: int = Field(default=14, ge=1, le=90)
    k: float = Field(default=3.0, gt=0)
    # At least this many times the recent baseline...
    ratio: float = Field(default=3.0, gt=1)
    # ...and at least this many items (negative ones for a case), so quiet topics do not fire on noise.
    min_count: int = Field(default=5, ge=1)
    min_negative: int = Field(default=3, ge=1)
    # Which surges open a case: only surges of negative coverage, or any surge.
    case_on: Literal["negative", "any"] = "negative"
    # Items whose publication is older than this when first seen are backlog, not coverage now.
    max_age: Seconds = 86400


class AlertsSettings(_Section):
    """When an item becomes a case."""

    case_severity: Literal["alert", "critical"] = "alert"


DEFAULT_TOPICS: dict[str, str] = {
    "policy_governance": "Chính sách, pháp luật, chỉ đạo điều hành",
    "administrative_reform": "Sắp xếp đơn vị hành chính, bộ máy, nhân sự",
    "economy_investment": "Kinh tế, đầu tư",
    "infrastructure_transport": "Hạ tầng, giao thông",
    "land_planning": "Đất đai, quy hoạch, giải phóng mặt bằng",
    "agriculture_fisheries": "Nông nghiệp, thủy sản",
    "environment_disaster": "Môi trường, thiên tai, đê điều",
    "health": "Y tế, dịch bệnh, an toàn thực phẩm",
    "education": "Giáo dục",
    "public_order": "An ninh trật tự, tai nạn, cháy nổ",
    "corruption_misconduct": "Tham nhũng, tiêu cực, sai phạm cán bộ",
    "social_welfare": "An sinh xã hội, lao động, việc làm",
    "culture_society": "Văn hóa, xã hội, du lịch, thể thao",
    "digital_telecom": "Chuyển đổi số, viễn thông",
    "other": "Khác",
}
_LEVELS = ("watch", "alert", "critical")


class AnalysisSettings(_Section):
    """Which analyser reads the items."""

    analyser: Literal["nlp", "keyword"] = "nlp"
    workers: int = Field(default=1, ge=1, le=64)
    classify_irrelevant: bool = False


class SeveritySettings(_Section):
    """Overrides of the learnt severity model (nlp/models/severity), and its alarm lexicon."""

    # The probability from which each level starts; a level left out keeps the shipped threshold.
    thresholds: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    # Per level, single feature weights replacing the learnt ones ({critical: {"cue:dike": 4}}).
    weights: dict[str, dict[str, float]] = Field(default_factory=dict)
    lexicon: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {k: tuple(v) for k, v in DEFAULT_LEXICON.items()}
    )
    viral: tuple[str, ...] = DEFAULT_VIRAL
    ignore: tuple[str, ...] = DEFAULT_IGNORE

    @field_validator("thresholds", "weights")
    @classmethod
    def _some_levels(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - set(_LEVELS)
        if unknown:
            raise ValueError(
                f"levels are {', '.join(_LEVELS)}; {', '.join(sorted(unknown))} is not one"
            )
        return value

    @field_validator("lexicon")
    @classmethod
    def _three_levels(cls, value: dict[str, Any]) -> dict[str, Any]:
        if set(value) != set(_LEVELS):
            raise ValueError(
                f"needs exactly the levels {', '.join(_LEVELS)}, got {', '.join(value)}"
            )
        return value

    def to_config(self) -> SeverityConfig:
        """The severity model's configuration."""
        return SeverityConfig(**self.model_dump())


class WebSettings(_Section):
    """The web dashboard and JSON API (monitor.web)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Served by `monitor run` next to the scheduler; `monitor web` serves it alone either way.
    enabled: bool = True
    language: Literal["vi", "en"] = "vi"
    # Secure cookies: None sets them when the request came over HTTPS (X-Forwarded-Proto from a
    # proxy in trusted_proxies counts); true/false forces it.
    secure_cookies: bool | None = None
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    session_idle: Seconds = 8 * 3600
    session_max: Seconds = 7 * 86400
    # Login throttling: after max_failures wrong passwords within window for one user name (or
    # 4x that from one address), sign-in is refused for lockout.
    login_max_failures: int = Field(default=5, ge=1)
    login_window: Seconds = 900
    login_lockout: Seconds = 900


class Settings(_Section):
    """Everything the monitor is configured with."""

    province: ProvinceSettings = ProvinceSettings()
    sources: tuple[SourceSettings, ...] = ()
    database: DatabaseSettings = DatabaseSettings()
    timezone: str = "Asia/Ho_Chi_Minh"
    http: HttpSettings = HttpSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    health: HealthSettings = HealthSettings()
    stories: StoriesSettings = StoriesSettings()
    surges: SurgesSettings = SurgesSettings()
    alerts: AlertsSettings = AlertsSettings()
    cases: CaseSettings = CaseSettings()
    oncall: OnCallSettings = OnCallSettings()
    analysis: AnalysisSettings = AnalysisSettings()
    topics: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TOPICS))
    severity: SeveritySettings = SeveritySettings()
    notify: NotifySettings = NotifySettings()
    digest: DigestSettings = DigestSettings()
    web: WebSettings = WebSettings()

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Ho_Chi_Minh)"
            ) from None
        return value

    @field_validator("sources")
    @classmethod
    def _unique_ids(cls, sources: tuple[SourceSettings, ...]) -> tuple[SourceSettings, ...]:
        seen: set[str] = set()
        for source in sources:
            if source.id in seen:
                raise ValueError(f"source id {source.id!r} is used twice")
            seen.add(source.id)
        return sources

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    def source(self, source_id: str) -> SourceSettings:
        """The source with this id; KeyError if there is none."""
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)
