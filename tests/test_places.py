"""Province relevance and places: the hard cases a reader of the monitor would notice.

Every test goes through ``PlaceMatcher.match`` with Vietnamese text as it appears in the press or
on social media, and checks what a user sees: relevant or not, which places (with their old and
new units and exact spans) and the Vietnamese reasons.
"""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest

from nlp.base import Place
from nlp.gazetteer import (
    AdminUnit,
    Gazetteer,
    accent_key,
    known_provinces,
    load_gazetteer,
    name_index,
    short_name,
)
from nlp.normalize import fold
from nlp.places import PlaceMatcher, Relevance

# As in the shipped config.yaml.
ALIASES = ["Thành Nam", "Nam Định (cũ)", "Nam Định cũ", "thành phố Nam Định", "TP Nam Định"]
LANDMARKS = [
    "Đền Trần",
    "Chùa Phổ Minh",
    "Phủ Dầy",
    "Vườn quốc gia Xuân Thủy",
    "Bãi biển Thịnh Long",
    "Cồn Lu",
]
KEYWORDS = ["UBND tỉnh Nam Định", "Công an tỉnh Nam Định", "Báo Nam Định", "Thép Xanh Nam Định"]


@pytest.fixture(scope="module")
def matcher() -> PlaceMatcher:
    return PlaceMatcher(load_gazetteer("Nam Định"), ALIASES, LANDMARKS, KEYWORDS)


def body(title: str, text: str) -> str:
    return f"{title}\n{text}"


def spans(title: str, text: str, result: Relevance) -> list[str]:
    """The text of each place's span, as a user clicking the highlight would see it."""
    whole = body(title, text)
    return [whole[p.start : p.end] for p in result.places]


def place(result: Relevance, name: str) -> Place:
    found = [p for p in result.places if p.name == name]
    assert found, f"{name} not among {[p.name for p in result.places]}"
    return found[0]


# -- the result ------------------------------------------------------------------------------


def test_result_is_frozen_and_scored_in_unit_interval(matcher: PlaceMatcher) -> None:
    result = matcher.match("Nam Định: khánh thành cầu Tân Đệ mới", "Tỉnh Nam Định ...")
    assert result.relevant and 0.0 <= result.score <= 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.relevant = False  # type: ignore[misc]


def test_nothing_found_gives_an_empty_irrelevant_result(matcher: PlaceMatcher) -> None:
    result = matcher.match("Giá vàng hôm nay tăng mạnh", "Giá vàng SJC tăng 500.000 đồng.")
    assert result == Relevance(False, 0.0, [], [])


# -- shared names ----------------------------------------------------------------------------


def test_shared_commune_name_of_another_province_is_not_ours(matcher: PlaceMatcher) -> None:
    result = matcher.match("", "Sạt lở bờ sông ở xã Nghĩa Hưng, tỉnh Lạng Sơn khiến 3 nhà bị sập.")
    assert not result.relevant
    assert result.places == []
    assert any("Lạng Sơn" in r and "Nghĩa Hưng" in r for r in result.reasons)


def test_shared_commune_name_with_our_address_counts(matcher: PlaceMatcher) -> None:
    text = "Sạt lở bờ sông ở xã Nghĩa Hưng, huyện Nghĩa Hưng, tỉnh Nam Định khiến 3 nhà bị sập."
    result = matcher.match("", text)
    assert result.relevant
    assert {"Xã Nghĩa Hưng", "Huyện Nghĩa Hưng", "Tỉnh Nam Định"} <= {p.name for p in result.places}


def test_bare_shared_district_name_alone_is_not_enough(matcher: PlaceMatcher) -> None:
    # Xuân Trường is also a commune in Thanh Hóa, Lâm Đồng, Cao Bằng, Đồng Nai (and a footballer)
    result = matcher.match("Xuân Trường, Công Phượng mang Trung thu tới các bệnh nhi", "")
    assert not result.relevant
    assert any("Xuân Trường" in r and "Thanh Hóa" in r for r in result.reasons)


def test_district_level_name_is_unique_when_prefixed(matcher: PlaceMatcher) -> None:
    result = matcher.match("Nông dân huyện Xuân Trường thu hoạch lúa xuân", "")
    assert result.relevant
    assert place(result, "Huyện Xuân Trường").level == "district"


def test_shared_name_supported_by_province_nearby(matcher: PlaceMatcher) -> None:
    text = "Tối 3/5, cháy lớn tại một xưởng gỗ ở Minh Tân. Ông Trần Văn Hùng, Chủ tịch UBND huyện Vụ Bản (Nam Định) cho biết..."
    result = matcher.match("Cháy xưởng gỗ, thiệt hại hàng tỷ đồng", text)
    assert result.relevant
    assert "Minh Tân" in spans("Cháy xưởng gỗ, thiệt hại hàng tỷ đồng", text, result)


def test_shared_name_supported_by_its_district(matcher: PlaceMatcher) -> None:
    text = (
        "Anh Đinh Văn Thuận (đội 5, xã Hải Đông, huyện Hải Hậu) trồng đinh lăng thu gần 1 tỷ đồng."
    )
    result = matcher.match("", text)
    hai_dong = place(result, "Xã Hải Đông")
    assert hai_dong.new_unit == "Xã Hải Quang"
    assert result.relevant


def test_person_and_street_names_are_not_places(matcher: PlaceMatcher) -> None:
    text = "Tiền vệ Lương Xuân Trường sinh ra ở Tuyên Quang; anh thuê nhà trên đường Quang Trung."
    result = matcher.match("", text)
    assert not result.relevant and result.places == []


def test_lower_case_words_are_not_place_names_in_written_news(matcher: PlaceMatcher) -> None:
    title = "U23 Việt Nam thắng sát nút U20 Hàn Quốc"
    text = (
        "Chuyên gia lo địa phương định giá đất sai. Bộ Tài chính cho biết đây là kim chỉ nam "
        "định hướng. Liên minh châu Âu cũng nêu ý kiến."
    )
    result = matcher.match(title, text)
    assert result.places == [] and not result.relevant


def test_bare_commune_names_that_are_people_or_places_abroad(matcher: PlaceMatcher) -> None:
    for title, text in [
        ("Hoàng Nam lần đầu vào bán kết Challenger", "Lý Hoàng Nam thắng ở Nhật Bản."),
        (
            "Tử vong sau cấy mỡ tự thân",
            "Người phụ nữ 34 tuổi tại Hải Nam tử vong sau ca phẫu thuật.",
        ),
        ("Công du Trung Đông", "Ông Biden thăm Trung Đông với tham vọng hạ nhiệt giá dầu."),
    ]:
        assert not matcher.match(title, text).relevant, title


# -- old and new units -----------------------------------------------------------------------


def test_old_commune_reports_its_new_ward(matcher: PlaceMatcher) -> None:
    result = matcher.match("", "Cháy nhà dân ở xã Hải Minh, huyện Hải Hậu trong đêm.")
    hai_minh = place(result, "Xã Hải Minh")
    assert hai_minh.level == "ward"
    assert hai_minh.old_unit == "Xã Hải Minh, Huyện Hải Hậu"
    assert hai_minh.new_unit == "Xã Hải Anh"
    assert "nhắc tới xã Hải Minh (huyện Hải Hậu cũ; nay thuộc xã Hải Anh, tỉnh Ninh Bình)" in (
        result.reasons
    )


def test_old_district_reports_the_wards_it_became(matcher: PlaceMatcher) -> None:
    result = matcher.match("Huyện Hải Hậu ra quân làm thủy lợi", "")
    hai_hau = place(result, "Huyện Hải Hậu")
    assert hai_hau.level == "district" and hai_hau.new_unit is not None
    assert "Xã Hải Hậu" in hai_hau.new_unit.split(", ")
    assert result.reasons[0].startswith("nhắc tới huyện Hải Hậu (nay là xã Hải Hậu và ")
    assert "tỉnh Ninh Bình" in result.reasons[0]


def test_new_ward_reports_what_it_was_formed_from(matcher: PlaceMatcher) -> None:
    result = matcher.match("UBND xã Hải Hậu, tỉnh Ninh Bình tổ chức hội nghị", "")
    ward = place(result, "Xã Hải Hậu")
    assert ward.level == "ward" and ward.new_unit == "Xã Hải Hậu"
    assert ward.old_unit is not None and "Thị trấn Yên Định, Huyện Hải Hậu" in ward.old_unit
    assert "trước thuộc huyện Hải Hậu, tỉnh Nam Định" in result.reasons[0]


def test_every_old_commune_with_its_district_maps_to_its_new_ward(matcher: PlaceMatcher) -> None:
    gazetteer = load_gazetteer("Nam Định")
    new_wards = {u.name for u in gazetteer.units if u.era == "new" and u.level == "ward"}
    olds = [u for u in gazetteer.units if u.level == "ward" and u.era == "old" and u.parent]
    for unit in olds:
        kind = unit.full_name[: -len(unit.name)].strip().lower()
        district = unit.parent[:1].lower() + unit.parent[1:] if unit.parent else ""
        result = matcher.match("", f"Tin từ {kind} {unit.name}, {district} cho biết")
        ward = next(p for p in result.places if p.level == "ward")
        if unit.name in new_wards:  # a commune that kept its name: the new ward is meant
            assert ward.name.endswith(unit.name), unit
        else:
            assert (ward.name, ward.new_unit) == (unit.full_name, unit.new_unit), unit
    assert len(olds) > 150


# -- unaccented, tone marks, Unicode forms ---------------------------------------------------


def test_unaccented_social_text_is_caught(matcher: PlaceMatcher) -> None:
    result = matcher.match("", "nuoc ngap het roi, o hai hau nam dinh ai can giup thi ib minh")
    assert result.relevant
    assert spans("", "nuoc ngap het roi, o hai hau nam dinh ai can giup thi ib minh", result) == [
        "hai hau",
        "nam dinh",
    ]
    assert any("viết không dấu" in r for r in result.reasons)


def test_unaccented_province_alone_is_enough(matcher: PlaceMatcher) -> None:
    assert matcher.match("", "mua to qua, duong o nam dinh ngap het").relevant


def test_social_text_in_lower_case_with_accents_is_caught(matcher: PlaceMatcher) -> None:
    result = matcher.match("", "Xin chào cả nhà, cho e hỏi khu vực ý yên có hồ câu nào không ạ")
    assert result.relevant and place(result, "Huyện Ý Yên")


def test_bare_unaccented_short_names_alone_are_weak(matcher: PlaceMatcher) -> None:
    # "phuong con" is not "phường Cồn": one unaccented syllable could be any word
    for text in (
        "duong o giao thuy ngap het",
        "chieu nay vu ban mat dien",
        "9 phuong con 1 phuong",
    ):
        result = matcher.match("", text)
        assert not result.relevant, text
        assert result.places == []


def test_unaccented_names_with_a_unit_type_or_each_other_count(matcher: PlaceMatcher) -> None:
    assert matcher.match("", "huyen hai hau mat dien ca dem").relevant
    assert matcher.match("", "lu lut o giao thuy va hai hau, ba con chu y").relevant


def test_unaccented_name_inside_accented_news_is_not_counted_alone(matcher: PlaceMatcher) -> None:
    text = "Sở GD-ĐT quyết định kỷ luật nguyên hiệu trưởng trường Tiểu học Nam Dinh vì lạm thu."
    assert not matcher.match("Điều chuyển nữ hiệu trưởng bị kỷ luật", text).relevant


@pytest.mark.parametrize(
    ("old_style", "new_style"),
    [("Giao Thuỷ", "Giao Thủy"), ("xã Giao Hoà", "xã Giao Hòa"), ("Thuỷ", "Thủy")],
)
def test_tone_mark_placement_variants_are_the_same_place(
    matcher: PlaceMatcher, old_style: str, new_style: str
) -> None:
    if " " not in old_style:
        old_style, new_style = f"huyện Giao {old_style}", f"huyện Giao {new_style}"
    first = matcher.match("", f"Đê biển {old_style} được gia cố.")
    second = matcher.match("", f"Đê biển {new_style} được gia cố.")
    assert [p.name for p in first.places] == [p.name for p in second.places] != []
    assert first.score == second.score
    assert accent_key(old_style) == accent_key(new_style)


def test_wrong_tone_is_another_word(matcher: PlaceMatcher) -> None:
    # "nằm định" folds to "nam dinh", "Đinh" is a family name: neither is Nam Định
    result = matcher.match("", "Anh ấy nằm định thần một lúc. Ông Nam Đinh Văn Hải cho biết.")
    assert result.places == []


def test_decomposed_unicode_keeps_spans_on_the_text_as_given(matcher: PlaceMatcher) -> None:
    text = unicodedata.normalize("NFD", "Mưa lớn gây ngập ở huyện Hải Hậu, tỉnh Nam Định.")
    result = matcher.match("", text)
    assert result.relevant
    found = spans("", text, result)
    assert [unicodedata.normalize("NFC", s) for s in found] == ["huyện Hải Hậu", "tỉnh Nam Định"]


# -- national lists --------------------------------------------------------------------------

NATIONAL_LIST = (
    "Do ảnh hưởng của bão, mưa lớn ở Hà Nội, Hải Phòng, Thái Bình, Nam Định, Ninh Bình, "
    "Thanh Hóa, Nghệ An và Hà Tĩnh, có nơi trên 200 mm."
)


def test_province_in_a_national_list_is_not_relevant(matcher: PlaceMatcher) -> None:
    result = matcher.match("Miền Bắc mưa lớn diện rộng", NATIONAL_LIST)
    assert not result.relevant
    assert spans("Miền Bắc mưa lớn diện rộng", NATIONAL_LIST, result) == ["Nam Định"]
    assert any("danh sách" in r for r in result.reasons)


def test_national_list_in_the_title_is_not_relevant(matcher: PlaceMatcher) -> None:
    title = "Công điện gửi Quảng Ninh, Hải Phòng, Thái Bình, Nam Định, Ninh Bình, Thanh Hóa"
    assert not matcher.match(title, "Thủ tướng yêu cầu chủ động ứng phó bão số 3.").relevant


def test_national_list_with_something_specific_about_us_is_relevant(matcher: PlaceMatcher) -> None:
    text = NATIONAL_LIST + " Tại Nam Định, đê biển Hải Hậu bị sạt lở hơn 100 m."
    result = matcher.match("Miền Bắc mưa lớn diện rộng", text)
    assert result.relevant
    assert "Huyện Hải Hậu" in {p.name for p in result.places}


@pytest.mark.parametrize("separator", ["\n", "; "])
def test_table_of_all_provinces_is_not_relevant(matcher: PlaceMatcher, separator: str) -> None:
    rows = [
        f"{i}. {name}: {i * 37} ca ({i % 9},{i % 7}%)"
        for i, name in enumerate(known_provinces(), 1)
    ]
    result = matcher.match("Số ca mắc sốt xuất huyết theo tỉnh, thành", separator.join(rows))
    assert not result.relevant
    assert [p.name for p in result.places] == ["Tỉnh Nam Định"]


def test_a_short_list_of_provinces_is_still_about_them(matcher: PlaceMatcher) -> None:
    result = matcher.match("Thêm 1.000 đơn vị máu ở Bắc Ninh, Hải Dương, Nam Định", "")
    assert result.relevant


def test_merger_of_the_three_provinces_is_relevant(matcher: PlaceMatcher) -> None:
    text = "Từ 1/7, ba tỉnh Hà Nam, Nam Định, Ninh Bình hợp nhất thành tỉnh Ninh Bình."
    assert matcher.match("Sắp xếp đơn vị hành chính", text).relevant


# -- "Ninh Bình" after 2025 ------------------------------------------------------------------


def test_new_province_alone_is_not_enough(matcher: PlaceMatcher) -> None:
    result = matcher.match("Tỉnh Ninh Bình tổ chức hội nghị triển khai nghị quyết", "")
    assert not result.relevant and result.places == []
    assert any("Hà Nam" in r for r in result.reasons)


def test_new_province_with_a_ward_of_former_ha_nam_is_not_ours(matcher: PlaceMatcher) -> None:
    result = matcher.match("", "UBND phường Phủ Lý, tỉnh Ninh Bình vừa khánh thành công viên.")
    assert not result.relevant
    assert any("Hà Nam cũ" in r for r in result.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "UBND phường Nam Định, tỉnh Ninh Bình vừa khánh thành công viên.",
        "UBND xã Hải Hậu, tỉnh Ninh Bình vừa khánh thành công viên.",
        # Vụ Bản was also a commune of Hà Nam: only a post-2025 address (no district) makes it ours
        "UBND xã Vụ Bản, tỉnh Ninh Bình vừa khánh thành công viên.",
    ],
)
def test_new_province_with_a_ward_formed_from_nam_dinh_is_ours(
    matcher: PlaceMatcher, text: str
) -> None:
    assert matcher.match("", text).relevant


def test_old_style_address_in_old_ninh_binh_is_not_ours(matcher: PlaceMatcher) -> None:
    # Yên Đồng was a commune of Ý Yên (Nam Định) and of Yên Mô (Ninh Bình)
    old = matcher.match("", "Nhà văn hóa xã Yên Đồng, huyện Yên Mô, tỉnh Ninh Bình xuống cấp.")
    new = matcher.match("", "Nhà văn hóa xã Yên Đồng, tỉnh Ninh Bình xuống cấp.")
    assert not old.relevant and new.relevant


def test_old_name_with_cu_is_ours(matcher: PlaceMatcher) -> None:
    result = matcher.match("", "Làng nghề ở Nam Định (cũ) tất bật vào vụ Tết.")
    assert result.relevant and place(result, "Nam Định (cũ)").level == "alias"


# -- another province by configuration -------------------------------------------------------


def test_thai_binh_works_by_configuration_alone() -> None:
    thai_binh = PlaceMatcher(load_gazetteer("Thái Bình"))
    assert thai_binh.match("Lũ lớn ở huyện Kiến Xương, tỉnh Thái Bình", "").relevant
    assert thai_binh.match("Xã Kiến Xương, tỉnh Hưng Yên khánh thành trường", "").relevant
    assert not thai_binh.match("Tỉnh Hưng Yên tổ chức hội nghị", "").relevant
    assert not thai_binh.match("Hải Hậu, Nam Định mất điện diện rộng", "").relevant
    assert not thai_binh.match("", NATIONAL_LIST).relevant


def test_ha_nam_shares_the_new_province_with_nam_dinh() -> None:
    ha_nam = PlaceMatcher(load_gazetteer("Hà Nam"))
    assert ha_nam.match(
        "", "UBND phường Phủ Lý, tỉnh Ninh Bình vừa khánh thành công viên."
    ).relevant
    assert not ha_nam.match(
        "", "UBND xã Hải Hậu, tỉnh Ninh Bình vừa khánh thành công viên."
    ).relevant
    result = ha_nam.match("Huyện Kim Bảng có nhiều mỏ đá", "")
    assert result.relevant and result.places[0].name == "Thị xã Kim Bảng"


# -- title, body, repetition, strong evidence ------------------------------------------------

FILLER = "Các hộ dân được hỗ trợ giống cây trồng và phân bón để khôi phục sản xuất. " * 6


def test_title_weighs_more_than_body(matcher: PlaceMatcher) -> None:
    in_title = matcher.match("Nam Định khôi phục sản xuất sau bão", "Các hộ dân được hỗ trợ.")
    in_body = matcher.match("Khôi phục sản xuất sau bão", "Các hộ dân ở Nam Định được hỗ trợ.")
    assert in_title.score > in_body.score and in_body.relevant
    assert in_title.reasons[0].endswith("trong tiêu đề")


def test_single_passing_mention_deep_in_a_long_text_is_not_enough(matcher: PlaceMatcher) -> None:
    text = FILLER + "Một số cán bộ từ Nam Định đã tới hỗ trợ."
    once = matcher.match("Khôi phục sản xuất sau bão", text)
    twice = matcher.match("Khôi phục sản xuất sau bão", text + " Đoàn Nam Định ở lại ba ngày.")
    assert not once.relevant and twice.relevant and twice.score > once.score
    assert "2 lần" in twice.reasons[0]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Lễ khai ấn Đền Trần năm nay được tổ chức theo hướng văn minh.", "Đền Trần"),
        ("Đoàn kiểm tra do UBND tỉnh Nam Định chủ trì đã làm việc.", "UBND tỉnh Nam Định"),
    ],
)
def test_landmark_or_institution_counts_strongly_anywhere(
    matcher: PlaceMatcher, text: str, name: str
) -> None:
    result = matcher.match("Chuẩn bị lễ hội đầu xuân", FILLER + text)
    assert result.relevant
    assert place(result, name).level in ("landmark", "keyword")


def test_a_landmark_name_inside_a_longer_name_is_another_place(matcher: PlaceMatcher) -> None:
    title = "Hà Nam: Có hay không việc tư nhân hóa di tích Đền Trần Thương?"
    assert not matcher.match(title, "Là di tích tiêu biểu của tỉnh Hà Nam.").relevant


def test_two_syllable_alias_alone_may_be_a_person(matcher: PlaceMatcher) -> None:
    assert not matcher.match(
        "", "Nghệ sĩ Tăng Thành Nam biểu diễn violon tại Nhà hát Lớn."
    ).relevant
    assert matcher.match("", "Về Thành Nam ăn phở bò, thăm Đền Trần.").relevant


# -- spans -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (
            "Nam Định: cháy xưởng may",
            "Vụ cháy xảy ra tại xã Hải Minh, huyện Hải Hậu, tỉnh Nam Định.",
        ),
        ("", "nuoc ngap o hai hau nam dinh"),
        ("TP.Nam Định rực rỡ cờ hoa", "Phường Trường Thi (TP Nam Định) treo cờ. Ghé Phủ Dầy."),
        (
            "  Tiêu đề có khoảng trắng  ",
            "Chợ Viềng (xã Kim Thái, huyện Vụ Bản, Nam Định) đông vui.",
        ),
    ],
)
def test_spans_are_the_words_as_written(matcher: PlaceMatcher, title: str, text: str) -> None:
    result = matcher.match(title, text)
    whole = body(title, text)
    assert result.places
    for p in result.places:
        written = whole[p.start : p.end]
        assert written == written.strip() and written
        assert fold(short_name(p.name)) in " ".join(fold(written).split()), (p, written)


def test_span_covers_the_unit_type_when_written(matcher: PlaceMatcher) -> None:
    title, text = "", "Trường THCS ở thị trấn Thịnh Long, huyện Hải Hậu được khen."
    assert spans(title, text, matcher.match(title, text)) == [
        "thị trấn Thịnh Long",
        "huyện Hải Hậu",
    ]


# -- realistic sapos -------------------------------------------------------------------------

RELEVANT = [
    (
        "Không để xảy ra tranh cướp ấn ở Lễ hội Đền Trần",
        "Ngày 26/1, tại TP Nam Định, Phó Thủ tướng cùng đoàn công tác đã kiểm tra công tác "
        "chuẩn bị Lễ hội Đền Trần năm 2018 của địa phương.",
    ),
    (
        "Nam sinh lớp 7 bị bạn đánh hội đồng ngay tại lớp học",
        "Một nam sinh lớp 7 Trường THCS Nghĩa Trung (huyện Nghĩa Hưng, Nam Định) bị nhiều học "
        "sinh cùng trường đấm, đạp ngay trong lớp.",
    ),
    (
        "Dự án bệnh viện 850 tỷ bỏ hoang nhìn từ trên cao",
        "Bệnh viện Đa khoa Nam Định xây dựng tại phường Lộc Hạ (TP Nam Định) có vốn đầu tư 850 "
        "tỷ đồng hiện bỏ hoang.",
    ),
    (
        "Sạt lở đê biển, dân lo mất nhà",
        "Sau bão số 3, hơn 200 m đê biển qua xã Hải Thịnh, tỉnh Ninh Bình (trước là thị trấn "
        "Thịnh Long, huyện Hải Hậu) bị sóng đánh sạt lở nghiêm trọng.",
    ),
]
NOT_RELEVANT = [
    (
        "Thủ tướng yêu cầu khẩn cấp ứng phó bão số 10",
        "Thủ tướng vừa có công điện gửi UBND các tỉnh, thành phố: Quảng Ninh, Hải Phòng, Thái "
        "Bình, Nam Định, Ninh Bình, Thanh Hóa, Nghệ An, Hà Tĩnh, Quảng Bình.",
    ),
    (
        "Trung tâm dữ liệu dưới biển đầu tiên trên thế giới",
        "Trung tâm được hạ thủy tại huyện tự trị Lê Lăng Thủy, tỉnh Hải Nam, hôm 31/3.",
    ),
    (
        "Ninh Bình: Khai mạc Lễ hội Tràng An năm 2025",
        "Lễ hội do Sở Văn hóa, UBND phường Hoa Lư phối hợp tổ chức tại khu du lịch Tràng An, "
        "tỉnh Ninh Bình.",
    ),
    (
        "Việt Nam thắng đậm trận ra quân SEA Games",
        "Tuyển Việt Nam thắng Lào 3-0 nhờ cú đúp của tiền đạo Xuân Trường.",
    ),
]


@pytest.mark.parametrize(("title", "text"), RELEVANT)
def test_realistic_relevant_sapo(matcher: PlaceMatcher, title: str, text: str) -> None:
    result = matcher.match(title, text)
    assert result.relevant and result.score >= 0.5
    assert result.reasons and all(r.startswith("nhắc tới") for r in result.reasons)


@pytest.mark.parametrize(("title", "text"), NOT_RELEVANT)
def test_realistic_irrelevant_sapo(matcher: PlaceMatcher, title: str, text: str) -> None:
    result = matcher.match(title, text)
    assert not result.relevant and result.score < 0.5


def test_reasons_say_what_the_old_units_are_now(matcher: PlaceMatcher) -> None:
    result = matcher.match(*RELEVANT[3])
    assert any(
        r.startswith("nhắc tới thị trấn Thịnh Long (huyện Hải Hậu cũ") for r in result.reasons
    )
    assert place(result, "Thị trấn Thịnh Long").new_unit == "Xã Hải Thịnh"


# -- the gazetteer the matcher is built on ---------------------------------------------------


def test_gazetteer_keeps_its_api_and_adds_history() -> None:
    gazetteer = load_gazetteer("Nam Định")
    assert isinstance(gazetteer, Gazetteer)
    assert (gazetteer.province, gazetteer.new_province) == ("Nam Định", "Ninh Bình")
    assert gazetteer.new_full_name == "Tỉnh Ninh Bình"
    assert "Nam Định" in known_provinces() and short_name("Huyện Hải Hậu") == "Hải Hậu"
    districts = {u.name for u in gazetteer.units if u.level == "district"}
    assert {"Hải Hậu", "Giao Thủy", "Xuân Trường", "Nghĩa Hưng", "Ý Yên", "Vụ Bản"} <= districts
    assert all(isinstance(u, AdminUnit) and u.name for u in gazetteer.units)
    ward = next(u for u in gazetteer.units if u.full_name == "Xã Hải Hậu" and u.era == "new")
    assert "Thị trấn Yên Định, Huyện Hải Hậu" in ward.formed_from


def test_a_merged_new_province_knows_what_it_was_made_of() -> None:
    gazetteer = load_gazetteer("Ninh Bình")
    assert gazetteer.merged_from == ("Hà Nam", "Nam Định", "Ninh Bình")
    assert PlaceMatcher(gazetteer).match("Nam Định mưa to", "").relevant


def test_name_sharing_is_computed_from_the_whole_country() -> None:
    provinces = {use.province for use in name_index()["nghia hung"]}
    assert {"Nam Định", "Nghệ An", "Vĩnh Phúc"} <= provinces
