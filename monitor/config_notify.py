"""Settings of how the product reaches people: case due times, channels, the on-call rota and
escalation policy, and the daily digest. Part of ``monitor.config.Settings``."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from monitor.durations import clock_time, parse_duration

Seconds = Annotated[int, BeforeValidator(parse_duration), Field(ge=0)]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Level = Literal["watch", "alert", "critical"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


Clock = Annotated[str, BeforeValidator(clock_time), Field(pattern=_CLOCK.pattern)]


def _days(value: Any) -> Any:
    if value in ("all", "*"):
        return list(DAYS)
    if value == "weekdays":
        return list(DAYS[:5])
    return value


Days = Annotated[tuple[Day, ...], BeforeValidator(_days)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoursWindow(_Section):
    """Days of the week and a local time span, start included, end not; ``22:00``-``06:00``
    runs past midnight (the day is the day it starts); start == end is the whole day."""

    days: Days = DAYS
    start: Clock = "00:00"
    end: Clock = "00:00"


_DUE: dict[Level, int] = {"watch": 86400, "alert": 4 * 3600, "critical": 3600}


class CaseSettings(_Section):
    """The case workflow: when a case of each severity is due."""

    due: dict[Level, Seconds] = Field(default_factory=lambda: dict(_DUE))


class EmailChannel(_Section):
    """SMTP: STARTTLS and login; the password from an environment variable."""

    host: str = "127.0.0.1"
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password_env: str = "MONITOR_SMTP_PASSWORD"
    sender: str = "monitor@localhost"
    timeout: float = Field(default=20.0, gt=0)


class TelegramChannel(_Section):
    """Telegram Bot API; the bot token from an environment variable."""

    api_url: str = "https://api.telegram.org"
    token_env: str = "TELEGRAM_BOT_TOKEN"


class ZaloChannel(_Section):
    """Zalo Official Account API (message to a follower); the OA access token from the environment."""

    api_url: str = "https://openapi.zalo.me/v3.0/oa/message/cs"
    token_env: str = "ZALO_OA_ACCESS_TOKEN"


class WebhookChannel(_Section):
    """A JSON POST signed with HMAC-SHA256 (header X-Monitor-Signature: sha256=<hex>)."""

    url: str | None = None
    secret_env: str = "MONITOR_WEBHOOK_SECRET"


class Channels(_Section):
    """The channels notifications can go out on."""

    email: EmailChannel | None = None
    telegram: TelegramChannel | None = None
    zalo: ZaloChannel | None = None
    webhook: WebhookChannel | None = None


class NotifySettings(_Section):
    """Notifications: channels, retries, and the signed acknowledgement links they carry."""

    enabled: bool = False
    channels: Channels = Channels()
    # Where the monitor's web address is reachable from staff phones (for acknowledgement links).
    public_url: str = "http://127.0.0.1:8080"
    # Name of the environment variable holding the key that signs acknowledgement links.
    secret_env: str = "MONITOR_SECRET_KEY"
    ack_link_ttl: Seconds = 86400
    # A failed send is retried with exponential backoff from retry_backoff, up to max_attempts.
    max_attempts: int = Field(default=5, ge=1, le=20)
    retry_backoff: Seconds = 60
    language: Literal["vi", "en"] = "vi"


class Person(_Section):
    """Someone who may be notified, and how to reach them (any of the channels)."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    name: str
    email: str | None = None
    telegram_chat_id: str | None = None
    zalo_user_id: str | None = None
    webhook: bool = False


class RotaShift(HoursWindow):
    """Who is the duty officer (tier 1) in this window."""

    person: str


class EscalationStep(_Section):
    """Notify a tier this long after the case opened (while it is not acknowledged)."""

    tier: int = Field(ge=1, le=9)
    after: Seconds = 0


class SeverityPolicy(_Section):
    """What happens for cases of one severity."""

    steps: tuple[EscalationStep, ...] = ()
    # Repeat the last step this often until acknowledged (0: never).
    repeat: Seconds = 0
    # Outside working hours, wait for the next working-hours start (e.g. alert: next morning).
    working_hours_only: bool = False
    # Quiet hours hold this severity's notifications until they end (never for critical).
    respect_quiet_hours: bool = True


_DEFAULT_POLICY: dict[Level, SeverityPolicy] = {
    "critical": SeverityPolicy(
        steps=(
            EscalationStep(tier=1, after=0),
            EscalationStep(tier=2, after=900),
            EscalationStep(tier=3, after=1800),
        ),
        repeat=1800,
        respect_quiet_hours=False,
    ),
    "alert": SeverityPolicy(steps=(EscalationStep(tier=1, after=0),), working_hours_only=True),
    "watch": SeverityPolicy(),  # digest only
}


class OnCallSettings(_Section):
    """Who is on call when, the tiers of contacts, and per severity what happens."""

    people: tuple[Person, ...] = ()
    # Tier 1 is the duty officer on the rota; higher tiers are fixed lists of people.
    rota: tuple[RotaShift, ...] = ()
    tiers: dict[int, tuple[str, ...]] = Field(default_factory=dict)
    working_hours: HoursWindow = HoursWindow(days=DAYS[:5], start="07:30", end="17:00")
    quiet_hours: HoursWindow | None = HoursWindow(days=DAYS, start="22:00", end="06:00")
    policy: dict[Level, SeverityPolicy] = Field(default_factory=lambda: dict(_DEFAULT_POLICY))

    @field_validator("policy", mode="after")
    @classmethod
    def _default_per_severity(
        cls, value: dict[Level, SeverityPolicy]
    ) -> dict[Level, SeverityPolicy]:
        # A config that sets the policy of one severity keeps the defaults of the others.
        return {**_DEFAULT_POLICY, **value}

    @model_validator(mode="after")
    def _known_people(self) -> OnCallSettings:
        known = {p.id for p in self.people}
        named = [s.person for s in self.rota] + [p for ids in self.tiers.values() for p in ids]
        unknown = sorted({p for p in named if p not in known})
        if unknown:
            raise ValueError(f"unknown person id(s) {unknown}; people: {sorted(known)}")
        return self


class DigestSettings(_Section):
    """The daily digest: when it goes out, to whom, in which language."""

    enabled: bool = False
    send_at: Clock = "07:00"
    # Person ids (see oncall.people) who receive it by email; empty: everyone with an email.
    recipients: tuple[str, ...] = ()
    language: Literal["vi", "en"] = "vi"
    top_stories: int = Field(default=10, ge=1, le=50)
