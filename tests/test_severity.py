"""Severity as the duty officer meets it: features that explain themselves, a learnt model that
config can steer, and reasons in Vietnamese. The shipped model's levels on real texts are in
tests/test_judgement.py."""

from __future__ import annotations

import pytest

from nlp.severity import OrdinalModel, SeverityConfig, SeverityModel, is_unaccented
from nlp.severity_features import Extractor, describe

EXTRACTOR = Extractor()


def _features(text: str, title: str = "") -> dict[str, float]:
    return EXTRACTOR.extract(text, text.lower(), title=title)


@pytest.mark.parametrize(
    ("text", "feature"),
    [
        ("Xe khách lật, 7 người tử vong tại chỗ", "dead:5"),
        ("Vụ tai nạn làm chết 2 người", "dead:2"),
        ("một người tử vong trên quốc lộ 21", "dead:1"),
        ("Hàng chục hộ dân phải sơ tán", "households:10"),
        ("32 học sinh nhập viện nghi ngộ độc", "hospitalised:20"),
        ("Vỡ đê biển ở Hải Hậu", "cue:dike"),
        ("Người dân tụ tập đông người trước trụ sở UBND xã", "cue:protest"),
        ("Chủ tịch UBND tỉnh bị kỷ luật cảnh cáo", "target:province_leaders"),
        ("Bệnh viện từ chối cấp cứu bệnh nhân", "target:hospital"),
        ("Clip lan truyền trên mạng xã hội", "viral"),
        ("dan lang em buc xuc vi bai rac boc mui hoi thoi ca thang nay roi", "cue:pollution"),
    ],
)
def test_features_count_casualties_and_name_situations(text: str, feature: str) -> None:
    assert feature in _features(text)


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
def test_everyday_or_denied_alarm_words_are_no_alarm_terms(text: str) -> None:
    assert EXTRACTOR.alarm_terms(text) == []


def test_alarm_terms_in_the_title_are_marked() -> None:
    found = _features("Cháy lớn tại chợ, hai người tử vong", title="Cháy lớn tại chợ")
    assert {"term:cháy lớn", "lex:critical:title", "dead:2"} <= set(found)


def test_unaccented_detection() -> None:
    assert is_unaccented("dan lang em buc xuc vi bai rac boc mui hoi thoi ca thang nay")
    assert not is_unaccented("Dân làng em bức xúc vì bãi rác bốc mùi hôi thối cả tháng nay")


# A tiny model: a dike problem is critical, a death alert, a complaint watch.
TINY = OrdinalModel(
    weights={
        "watch": {"cue:complaint": 3.0, "dead:1": 3.0, "cue:dike": 3.0},
        "alert": {"dead:1": 3.0, "cue:dike": 3.0},
        "critical": {"cue:dike": 3.0},
    },
    bias={"watch": -1.5, "alert": -1.5, "critical": -1.5},
    thresholds={"watch": 0.5, "alert": 0.5, "critical": 0.5},
)


def _level(model: SeverityModel, text: str, relevant: bool = True) -> str:
    verdict = model.assess(text, text.lower(), relevant=relevant)
    assert verdict.reasons, "every verdict says why"
    return verdict.level


def test_the_highest_level_whose_probability_reaches_its_threshold() -> None:
    model = SeverityModel(model=TINY)
    assert _level(model, "Khai mạc lễ hội Khai ấn Đền Trần") == "none"
    assert _level(model, "Người dân bức xúc vì đường xuống cấp") == "watch"
    assert _level(model, "Xe tải đâm xe máy, một người tử vong") == "alert"
    assert _level(model, "Vỡ đê biển ở Hải Hậu") == "critical"


def test_not_about_the_province_is_none_whatever_it_says() -> None:
    assert _level(SeverityModel(model=TINY), "Vỡ đê, 7 người tử vong", relevant=False) == "none"


def test_reasons_are_the_features_that_carried_the_decision_in_vietnamese() -> None:
    verdict = SeverityModel(model=TINY).assess(
        "Vỡ đê biển ở Hải Hậu", "vỡ đê biển ở hải_hậu", relevant=True
    )
    assert verdict.level == "critical"
    assert describe("cue:dike") in verdict.reasons
    assert verdict.reasons[0].startswith("mức critical")


def test_thresholds_and_weights_come_from_configuration() -> None:
    strict = SeverityModel(SeverityConfig(thresholds={"alert": 0.99}), model=TINY)
    assert _level(strict, "Xe tải đâm xe máy, một người tử vong") == "watch"
    # an office that treats any death as an emergency
    weighted = SeverityModel(SeverityConfig(weights={"critical": {"dead:1": 5.0}}), model=TINY)
    assert _level(weighted, "Xe tải đâm xe máy, một người tử vong") == "critical"


def test_a_term_added_to_the_lexicon_counts_as_its_level() -> None:
    model = OrdinalModel(
        weights={"watch": {"lex:alert": 3.0}, "alert": {"lex:alert": 3.0}, "critical": {}},
        bias={"watch": -1.5, "alert": -1.5, "critical": -1.5},
        thresholds={"watch": 0.5, "alert": 0.5, "critical": 0.5},
    )
    lexicon = {"critical": (), "alert": ("ngập úng",), "watch": ()}
    assert _level(SeverityModel(model=model), "Phố ngập úng sau mưa") == "none"
    configured = SeverityModel(SeverityConfig(lexicon=lexicon), model=model)
    assert _level(configured, "Phố ngập úng sau mưa") == "alert"


def test_the_shipped_model_loads_with_its_manifest() -> None:
    model = SeverityModel()
    assert model.version.startswith("severity-")
    assert set(model.model.thresholds) == {"watch", "alert", "critical"}
