"""What the JSON API answers and accepts: pydantic models, so the OpenAPI document says it too.

Models are filled from the plain dataclasses of the application and storage layers
(``from_attributes``); times are aware UTC datetimes in ISO 8601. Field descriptions are short,
Vietnamese then English, as the rest of the interface.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The workflow's actions (monitor.cases.ACTIONS; a test keeps the two the same).
CaseAction = Literal["ack", "start", "resolve", "dismiss", "reopen", "assign", "note"]
Sort = Literal["newest", "oldest", "relevance", "severity"]
Severity = Literal["none", "watch", "alert", "critical"]
Sentiment = Literal["negative", "neutral", "positive"]
Kind = Literal["news", "social", "forum", "manual"]
# A local day (YYYY-MM-DD) or an ISO 8601 time (local when it names no offset).
DAY_OR_TIME = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
MAX_PAGE = 200  # deep pages cost an OFFSET over every row before them: narrow the dates instead
STATUS_NAMES_EN = {
    "new": "new",
    "acknowledged": "acknowledged",
    "in_progress": "in progress",
    "resolved": "resolved",
    "dismissed": "dismissed",
}


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Problem(BaseModel):
    """An error: what went wrong (Vietnamese, then English, where the message is ours)."""

    detail: Any = Field(description="Lỗi / what went wrong")


class Names(BaseModel):
    """A name in both languages of the interface."""

    vi: str
    en: str


# -- items ------------------------------------------------------------------------------------


class ItemAnalysis(_Out):
    """The analyser's verdict as it stored it (corrections are in ``effective``/``corrections``)."""

    model_version: str
    relevant: bool
    relevance_score: float
    topic: str | None
    topic_scores: dict[str, Any]
    sentiment: str | None
    sentiment_score: float | None
    severity: str
    places: list[dict[str, Any]] = Field(description="Địa danh nhận ra / places recognised")
    reasons: list[str] = Field(description="Lý do / why the analyser decided so")
    analysed_at: datetime


class Correction(_Out):
    """An analyst's correction of one field of an item's analysis."""

    id: int
    field: str = Field(description="relevant | topic | sentiment | severity")
    value: str
    previous: str | None = Field(description="Giá trị của máy / what the analyser had said")
    author: str
    note: str | None
    created_at: datetime


class ItemFilters(BaseModel):
    """The filters of GET /api/items, as the search page has them."""

    q: str = Field(
        default="",
        max_length=500,
        description='Từ tìm kiếm (cú pháp trang Tìm kiếm: từ, "cụm từ", -loại trừ, tiền tố*) / '
        "search text in the search page's syntax; diacritics do not matter",
    )
    since: str | None = Field(
        default=None,
        pattern=DAY_OR_TIME,
        description="Từ ngày/giờ / from this local day (YYYY-MM-DD) or time (ISO 8601)",
    )
    until: str | None = Field(
        default=None,
        pattern=DAY_OR_TIME,
        description="Đến hết ngày / up to the end of this local day, or before this time",
    )
    topic: str | None = Field(default=None, max_length=64, description="Mã chủ đề / topic code")
    sentiment: Sentiment | None = None
    severity: Severity | None = Field(default=None, description="Đúng mức / exactly this level")
    min_severity: Severity | None = Field(
        default=None, description="Từ mức này trở lên / this level or above"
    )
    source: str | None = Field(default=None, max_length=64, description="Mã nguồn / source id")
    kind: Kind | None = None
    place: str | None = Field(
        default=None,
        max_length=100,
        description="Địa danh như máy phân tích ghi / a place's official name (Huyện Hải Hậu)",
    )
    relevant: Literal["any", "yes", "no"] = Field(
        default="any", description="Chỉ tin liên quan (yes) hay không (no) / relevance"
    )
    sort: Sort | None = Field(
        default=None,
        description="Mặc định: relevance khi có q, newest khi không / default: relevance with q, "
        "else newest",
    )
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    per_page: int = Field(default=50, ge=1, le=100)


class SearchFilters(ItemFilters):
    """The filters of GET /api/search: those of /api/items, with the search text required."""

    q: str = Field(
        min_length=1,
        max_length=500,
        description="Từ tìm kiếm (bắt buộc) / search text (required)",
    )


class Segment(BaseModel):
    """A piece of text; ``match`` where a searched word matched (mark it, as plain text)."""

    text: str
    match: bool


class ItemHit(BaseModel):
    """An item as a search lists it."""

    id: int
    source_id: str
    kind: str = Field(description="news | social | forum | manual")
    url: str
    title: str
    published_at: datetime | None
    fetched_at: datetime
    story_id: int | None
    relevant: bool | None
    topic: str | None
    sentiment: str | None
    severity: str | None
    places: list[str] = Field(description="Địa danh / places named")
    snippet: str = Field(description="Đoạn trích (chữ thường) / an excerpt, plain text")
    snippet_segments: list[Segment] = Field(
        description="Đoạn trích chia theo chỗ khớp / the excerpt cut where the words matched"
    )
    title_segments: list[Segment] = Field(
        description="Tiêu đề chia theo chỗ khớp / the title cut where the words matched"
    )


class ItemPage(BaseModel):
    """One page of items matching the filters."""

    items: list[ItemHit]
    total: int = Field(description="Số kết quả / matches (at least this many if total_capped)")
    total_capped: bool = Field(description="Đếm dừng ở giới hạn / counting stopped at a cap")
    page: int
    per_page: int
    pages: int = Field(description="Số trang theo total / pages the total makes")
    has_next: bool = Field(description="Còn trang sau / a next page exists (also past a cap)")


class Item(_Out):
    """One item in full: text, analysis, corrections, its story and case."""

    id: int
    source_id: str
    kind: str
    url: str
    title: str
    text: str
    author: str | None
    published_at: datetime | None
    fetched_at: datetime
    updated_at: datetime | None
    language: str | None
    story_id: int | None
    case_id: int | None
    analysis: ItemAnalysis | None
    effective: dict[str, str | None] = Field(
        description="Giá trị đang áp dụng (sửa của người thắng máy) / values in force: an "
        "analyst's correction over the analyser's (relevant as 'true'/'false')"
    )
    corrections: list[Correction] = Field(description="Mới nhất trước / newest first")


# -- stories ----------------------------------------------------------------------------------


class Story(_Out):
    """Copies of one article or post across outlets."""

    id: int
    title: str
    first_seen_at: datetime
    last_seen_at: datetime
    item_count: int
    outlet_count: int
    outlets: list[str]
    max_severity: str
    sentiment_counts: dict[str, Any]
    topic: str | None
    representative_item_id: int | None
    case_id: int | None


class StoryPage(BaseModel):
    """Stories seen most recently first; ``more`` says whether a next page exists."""

    stories: list[Story]
    page: int
    per_page: int
    more: bool


class StoryItem(_Out):
    """An item of a story."""

    id: int
    source_id: str
    kind: str
    url: str
    title: str
    published_at: datetime | None
    fetched_at: datetime
    severity: str | None
    sentiment: str | None


class StoryDetail(BaseModel):
    """A story and its items (earliest first, those the caller may see)."""

    story: Story
    items: list[StoryItem]


# -- cases ------------------------------------------------------------------------------------


class Case(_Out):
    """A case: what, how severe, where it stands, who has it, when it is due."""

    id: int
    kind: str = Field(description="item | story | source | surge")
    title: str
    severity: str
    status: str = Field(description="new | acknowledged | in_progress | resolved | dismissed")
    status_name: Names
    assignee: str | None
    opened_at: datetime
    updated_at: datetime
    due_at: datetime | None
    overdue: bool
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    item_id: int | None
    story_id: int | None
    source_id: str | None
    surge_key: str | None
    item_count: int | None
    outlet_count: int | None
    allowed_actions: list[str] = Field(description="Thao tác được phép / actions allowed now")


class CaseList(BaseModel):
    """Cases most severe first, then the soonest due."""

    cases: list[Case]
    limit: int
    offset: int


class CaseEvent(_Out):
    """One entry of a case's audit trail."""

    at: datetime
    actor: str
    action: str
    channel: str | None
    from_status: str | None
    to_status: str | None
    note: str | None
    detail: dict[str, Any]


class CaseStory(_Out):
    """The story a case follows."""

    id: int
    title: str
    item_count: int
    outlet_count: int
    outlets: list[str]
    first_seen_at: datetime
    last_seen_at: datetime


class CaseItem(_Out):
    """The item that opened a case."""

    id: int
    title: str
    url: str
    source_id: str
    published_at: datetime | None


class CaseSource(_Out):
    """The source a case is about."""

    id: str
    name: str | None
    url: str
    health: str
    health_reason: str | None


class CaseDetail(BaseModel):
    """A case, its audit trail (oldest first) and what it is about."""

    case: Case
    events: list[CaseEvent]
    story: CaseStory | None
    item: CaseItem | None
    source: CaseSource | None


class CaseActionIn(BaseModel):
    """A workflow action on a case."""

    model_config = ConfigDict(extra="forbid")

    action: CaseAction = Field(description="Thao tác / the action")
    note: str | None = Field(
        default=None, max_length=5000, description="Ghi chú (bắt buộc với note) / required by note"
    )
    assignee: str | None = Field(
        default=None,
        max_length=100,
        description="Người được giao (bắt buộc với assign) / required by assign",
    )


# -- sources and digests ----------------------------------------------------------------------


class Source(_Out):
    """A source with its health."""

    id: str
    name: str | None
    kind: str
    url: str
    enabled: bool
    health: str = Field(description="active | disabled | silent")
    health_reason: str | None
    health_changed_at: datetime | None
    failure_score: float
    consecutive_failures: int
    last_status: str | None = Field(description="Lần chạy cuối / the latest run's status")
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_new_item_at: datetime | None
    last_error: str | None
    backoff_until: datetime | None
    items: int = Field(description="Số tin đã lưu / items stored")


class DigestSummary(_Out):
    """An archived daily digest."""

    day: str = Field(description="Ngày (giờ địa phương) / local day, YYYY-MM-DD")
    language: str
    subject: str
    created_at: datetime
    sent_at: datetime | None


class DigestPage(BaseModel):
    """Archived digests, the latest day first."""

    digests: list[DigestSummary]
    limit: int
    offset: int


class Digest(DigestSummary):
    """An archived daily digest with its plain-text body."""

    text: str
