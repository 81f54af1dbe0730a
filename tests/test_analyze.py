"""``monitor analyze``: the JSON Lines contract the rest of the product relies on, with the shipped models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.analyze import analyse_lines
from monitor.bootstrap import build_analyser
from monitor.cli import cli
from monitor.config import Settings
from nlp.base import SEVERITIES

FIELDS = {
    "id",
    "relevant",
    "relevance",
    "places",
    "topic",
    "topic_scores",
    "sentiment",
    "sentiment_score",
    "severity",
    "reasons",
}
LINES = [
    {
        "id": "fire",
        "title": "Cháy chợ ở huyện Hải Hậu, tỉnh Nam Định",
        "text": "Hai người tử vong, nhiều ki-ốt bị thiêu rụi.",
    },
    {
        "id": "dike",
        "title": "Vỡ đê biển ở xã Giao Thủy, tỉnh Ninh Bình",
        "text": "Hàng trăm hộ dân phải sơ tán khẩn cấp trong đêm.",
    },
    {
        "id": "festival",
        "title": "Khai mạc lễ hội Khai ấn Đền Trần",
        "text": "Hàng vạn du khách về phường Nam Định dự lễ.",
    },
    {
        "id": "social",
        "text": "duong o xa hai hau nat qua, dan buc xuc lam roi ma chua ai sua, nam dinh oi",
        "kind": "social",
    },
    {
        "id": "list",
        "title": "Mưa lớn ở Hà Nội, Hải Phòng, Thái Bình, Nam Định, Thanh Hóa",
        "text": "Nhiều tuyến phố ngập sâu.",
    },
    {"id": 42, "title": "Giá vàng hôm nay tăng nhẹ", "text": "Thị trường trong nước ổn định."},
]


@pytest.fixture(scope="module")
def results() -> dict[object, dict[str, object]]:
    analyser = build_analyser(Settings(), classify_all=True)
    out = [
        json.loads(line)
        for line in analyse_lines(analyser, [json.dumps(x, ensure_ascii=False) for x in LINES])
    ]
    assert [r["id"] for r in out] == [x["id"] for x in LINES]  # one line per input, same order
    return {r["id"]: r for r in out}


def test_every_line_follows_the_contract(results: dict[object, dict[str, object]]) -> None:
    for record in results.values():
        assert set(record) == FIELDS
        assert record["severity"] in SEVERITIES and record["sentiment"] in (
            "negative",
            "neutral",
            "positive",
        )
        scores = record["topic_scores"]
        assert isinstance(scores, dict) and len(scores) == 15 and record["topic"] in scores
        assert all({"name", "level", "start", "end"} <= set(p) for p in record["places"])  # type: ignore[union-attr]


def test_what_the_duty_officer_sees(results: dict[object, dict[str, object]]) -> None:
    assert (results["fire"]["topic"], results["fire"]["sentiment"]) == ("public_order", "negative")
    assert results["dike"]["severity"] == "critical"
    assert (results["festival"]["relevant"], results["festival"]["severity"]) == (True, "none")
    assert results["social"]["relevant"] is True
    assert (results["list"]["relevant"], results["list"]["severity"]) == (False, "none")
    assert results[42]["relevant"] is False


def test_places_carry_old_and_new_units(results: dict[object, dict[str, object]]) -> None:
    text = f"{LINES[0]['title']}\n{LINES[0]['text']}"
    places = {p["name"]: p for p in results["fire"]["places"]}  # type: ignore[union-attr]
    district = places["Huyện Hải Hậu"]
    assert text[district["start"] : district["end"]].lower() == "huyện hải hậu"
    assert "Xã Hải Hậu" in district["new_unit"]
    assert places["Tỉnh Nam Định"]["new_unit"] == "Tỉnh Ninh Bình"


def test_cli_reports_bad_lines_and_goes_on(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(
            [
                json.dumps(LINES[0], ensure_ascii=False),
                "not json",
                '{"id": 3}',
                '{"id": 4, "text": "x", "kind": "tv"}',
                json.dumps(LINES[5], ensure_ascii=False),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    target = tmp_path / "out.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text("", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(config),
            "analyze",
            "--input",
            str(source),
            "--output",
            str(target),
            "--workers",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r.get("id") for r in out] == ["fire", None, 3, 4, 42]
    assert out[1] == {"id": None, "line": 2, "error": "not JSON: Expecting value at column 1"}
    assert out[2]["line"] == 3 and "text" in out[2]["error"]
    assert "kind" in out[3]["error"]
    assert out[4]["relevant"] is False and "error" not in out[4]


def test_missing_input_file_is_bad_usage(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--config", str(config), "analyze", "--input", str(tmp_path / "nope.jsonl")]
    )
    assert result.exit_code == 2


def test_analyser_is_safe_to_call_from_several_threads_at_first_use() -> None:
    import threading

    analyser = build_analyser(Settings(), classify_all=True)
    errors: list[str] = []
    levels: set[str] = set()

    def go() -> None:
        try:
            levels.add(
                analyser.analyse(
                    "Xe tải đâm xe máy ở huyện Hải Hậu", "Một người tử vong tại chỗ."
                ).severity
            )
        except Exception as exc:  # the test is that nothing is raised
            errors.append(repr(exc))

    threads = [threading.Thread(target=go) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and levels == {"alert"}


@pytest.mark.xfail(
    strict=True,
    reason="known miss of the learnt severity model: its critical threshold, chosen on the "
    "labelled dev split for 95% recall of escalations, rates a market fire with two deaths "
    "critical (LABELS.md: alert)",
)
def test_a_market_fire_with_two_deaths_is_followed_up_not_escalated(
    results: dict[object, dict[str, object]],
) -> None:
    assert results["fire"]["severity"] == "alert"


@pytest.mark.xfail(
    strict=True,
    reason="known miss of the learnt severity model: an unaccented post of residents angry "
    "at a broken road is rated watch (LABELS.md: public criticism of a public service, alert)",
)
def test_an_unaccented_complaint_about_a_public_service_is_followed_up(
    results: dict[object, dict[str, object]],
) -> None:
    assert results["social"]["severity"] in ("alert", "critical")
