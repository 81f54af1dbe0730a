"""Severity levels as the duty officer meets them: what lands in the digest, today, or now."""

from __future__ import annotations

import pytest

from nlp.severity import SeverityConfig, SeverityModel, is_unaccented

MODEL = SeverityModel()


def _level(
    text: str, topic: str, negative: float, kind: str = "news", relevant: bool = True
) -> str:
    verdict = MODEL.assess(
        text, relevant=relevant, topic=topic, topic_confidence=0.9, negative=negative, kind=kind
    )
    assert verdict.reasons, "every verdict says why"
    return verdict.level


@pytest.mark.parametrize(
    ("text", "topic", "negative", "kind", "expected"),
    [
        ("Khai mạc lễ hội Khai ấn Đền Trần năm 2026", "culture_society", 0.05, "news", "none"),
        (
            "UBND tỉnh họp bàn kế hoạch phát triển năm 2026",
            "policy_governance",
            0.1,
            "news",
            "none",
        ),
        (
            "Người dân không đồng tình với phương án bồi thường",
            "land_planning",
            0.9,
            "news",
            "watch",
        ),
        (
            "Đường liên xã xuống cấp, người dân phản ánh",
            "infrastructure_transport",
            0.8,
            "news",
            "watch",
        ),
        (
            "Xe tải đâm xe máy, một người tử vong trên quốc lộ 21",
            "public_order",
            0.9,
            "news",
            "alert",
        ),
        ("32 học sinh nhập viện nghi ngộ độc thực phẩm", "health", 0.9, "news", "alert"),
        ("Dân bức xúc vì bãi rác gây ô nhiễm", "environment_disaster", 0.9, "social", "alert"),
        (
            "dan lang em buc xuc vi bai rac boc mui hoi thoi ca thang nay roi khong ai giai quyet",
            "environment_disaster",
            0.9,
            "social",
            "alert",
        ),
        (
            "Vỡ đê biển ở Hải Hậu, hàng trăm hộ dân phải sơ tán",
            "environment_disaster",
            0.9,
            "news",
            "critical",
        ),
        (
            "Bài viết tố cáo lãnh đạo UBND tỉnh tham nhũng lan truyền trên mạng xã hội",
            "corruption_misconduct",
            0.9,
            "social",
            "critical",
        ),
    ],
)
def test_levels(text: str, topic: str, negative: float, kind: str, expected: str) -> None:
    assert _level(text, topic, negative, kind) == expected


def test_not_about_the_province_is_none_whatever_it_says() -> None:
    assert (
        _level("Vỡ đê, nhiều người tử vong", "environment_disaster", 1.0, relevant=False) == "none"
    )


def test_reasons_name_the_alarm_words_in_vietnamese() -> None:
    verdict = MODEL.assess(
        "Cháy lớn tại chợ, hai người tử vong",
        relevant=True,
        topic="public_order",
        topic_confidence=0.9,
        negative=0.9,
    )
    assert any("“cháy lớn”" in r and "“tử vong”" in r for r in verdict.reasons)


def test_thresholds_come_from_configuration() -> None:
    strict = SeverityModel(
        SeverityConfig(thresholds={"watch": 0.5, "alert": 0.95, "critical": 0.99})
    )
    verdict = strict.assess(
        "Xe tải đâm xe máy, một người tử vong",
        relevant=True,
        topic="public_order",
        topic_confidence=0.9,
        negative=0.9,
    )
    assert verdict.level == "watch"


def test_unaccented_detection() -> None:
    assert is_unaccented("dan lang em buc xuc vi bai rac boc mui hoi thoi ca thang nay")
    assert not is_unaccented("Dân làng em bức xúc vì bãi rác bốc mùi hôi thối cả tháng nay")


@pytest.mark.parametrize(
    "text",
    [
        "Doanh số bán lẻ bùng nổ dịp Tết",
        "Thép Xanh Nam Định thắng, cháy vé sân Thiên Trường",
        "Diễn tập phòng chống cháy nổ tại chợ Rồng",
        "sang nay chay bo quanh ho vi xuyen that thich, troi dep qua",  # "chay" is running here
        "Xe khách va chạm xe tải, rất may không có ai tử vong",
    ],
)
def test_everyday_or_denied_alarm_words_raise_no_alarm(text: str) -> None:
    assert _level(text, "culture_society", 0.3) == "none"
