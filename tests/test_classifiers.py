"""The shipped topic and sentiment models: they load, read clear news correctly, give a score for
every label and match their manifests; ``monitor nlp train`` / ``eval`` run end to end on a tiny
synthetic data set."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import cli
from nlp.classify import MODELS_DIR, Classifier, ModelError, load_model, save_model, sha256_of
from nlp.labels import CORPORA, SENTIMENTS, TASKS, TOPICS
from nlp.text import prepare
from nlp.training import RECIPES, score

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
runner = CliRunner()


@pytest.fixture(scope="module")
def topic() -> Classifier:
    return Classifier.shipped("topic")


@pytest.fixture(scope="module")
def sentiment() -> Classifier:
    return Classifier.shipped("sentiment")


CLEAR_NEWS = [
    (
        "Tai nạn giao thông trên quốc lộ 21 ở Hải Hậu, hai người tử vong. Xe tải va chạm với xe "
        "máy, công an huyện đang điều tra nguyên nhân.",
        "public_order",
        "negative",
    ),
    (
        "Nam Định thắng Hà Nội 2-0 ở vòng 10 V.League, củng cố ngôi đầu bảng xếp hạng.",
        "culture_society",
        "positive",
    ),
    (
        "UBND huyện Nghĩa Hưng chi trả tiền bồi thường giải phóng mặt bằng cho 120 hộ dân có đất "
        "bị thu hồi để làm đường bộ ven biển.",
        "land_planning",
        None,
    ),
    (
        "Khởi tố nguyên chủ tịch xã vì sai phạm trong quản lý đất đai, nhận hối lộ.",
        "corruption_misconduct",
        "negative",
    ),
    (
        "Hơn 40 học sinh nhập viện nghi ngộ độc thực phẩm sau bữa ăn bán trú.",
        "health",
        "negative",
    ),
    (
        "Sở Y tế thông báo lịch tiêm chủng mở rộng tháng 12 tại các trạm y tế xã.",
        "health",
        "neutral",
    ),
]


@pytest.mark.parametrize(("text", "expected_topic", "expected_tone"), CLEAR_NEWS)
def test_shipped_models_read_clear_news(
    topic: Classifier,
    sentiment: Classifier,
    text: str,
    expected_topic: str,
    expected_tone: str | None,
) -> None:
    words = prepare("", text).words
    assert topic.predict(words)[0] == expected_topic
    if expected_tone:
        assert sentiment.predict(words)[0] == expected_tone


@pytest.mark.parametrize("task", ["topic", "sentiment"])
def test_scores_cover_every_label(task: str) -> None:
    classifier = Classifier.shipped(task)
    label, scores = classifier.predict(prepare("", CLEAR_NEWS[0][0]).words)
    assert set(classifier.labels) == set(TASKS[task])
    assert set(scores) == set(TASKS[task])
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    assert sum(scores.values()) == pytest.approx(1.0)
    assert scores[label] == max(scores.values())


def test_empty_text_still_gets_a_label(topic: Classifier) -> None:
    label, scores = topic.predict("")
    assert label in TOPICS and len(scores) == len(TOPICS)


@pytest.mark.parametrize("task", ["topic", "sentiment"])
def test_manifest_is_complete_and_matches_the_files(task: str) -> None:
    directory = MODELS_DIR / task
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    for key in (
        "version", "date", "model_sha256", "labels", "hyperparameters", "data_files",
        "label_map", "examples", "metrics",
    ):  # fmt: skip
        assert manifest[key], key
    model = directory / manifest["model_file"]
    assert sha256_of(model) == manifest["model_sha256"]
    assert model.stat().st_size < 5_000_000
    assert set(manifest["examples"]["per_label"]) <= set(TASKS[task])
    assert manifest["examples"]["per_provenance"]
    for split in (name for name, _ in RECIPES[task].tests):
        assert split in manifest["metrics"], split
    for entry in manifest["data_files"]:
        candidates = [
            SHARED_DATA / entry["file"],
            directory.parents[1] / "data" / "examples" / entry["file"],
        ]
        present = [p for p in candidates if p.exists()]
        if present:  # shared/data sits beside the repository on developer machines and CI
            assert sha256_of(present[0]) == entry["sha256"], (
                f"{entry['file']} changed since the model was trained: run `monitor nlp train`"
            )


def test_shipped_topic_model_meets_its_target_on_vntc() -> None:
    manifest = json.loads((MODELS_DIR / "topic" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["metrics"]["VNTC test (mapped)"]["macro_f1"] >= 0.85


def test_mapping_tables_only_name_our_codes() -> None:
    for corpus in CORPORA.values():
        assert set(corpus.labels.values()) - {None} <= set(TASKS[corpus.task]), corpus.stem


def test_a_tampered_model_file_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "topic"
    directory.mkdir()
    manifest = json.loads((MODELS_DIR / "topic" / "manifest.json").read_text(encoding="utf-8"))
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    model = load_model(MODELS_DIR / "sentiment" / "model.bin")
    save_model(model, directory / "model.bin")
    with pytest.raises(ModelError, match="sha256"):
        Classifier(directory).predict("tai_nạn")


def test_score_counts_errors_into_other_labels() -> None:
    metrics = score("s", ["a", "a", "b", "b"], ["a", "b", "b", "c"])
    assert metrics.accuracy == 0.5
    assert metrics.per_label["a"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert metrics.confusion == {"a": {"a": 1, "b": 1}, "b": {"b": 1, "c": 1}}
    assert metrics.macro_f1 == pytest.approx((2 / 3 + 1 / 2) / 2)  # b: precision 1/2, recall 1/2


# --- train + eval end to end on a tiny synthetic data set -------------------------------------

TOPIC_TEXTS = {
    "sport": [
        "Đội bóng thắng trận chung kết giải bóng đá",
        "Cầu thủ ghi bàn, đội tuyển giành huy chương vàng",
    ],
    "business": [
        "Doanh nghiệp tăng vốn đầu tư, lợi nhuận quý ba tăng",
        "Giá cổ phiếu ngân hàng tăng mạnh trên sàn chứng khoán",
    ],
    "crime": [
        "Công an bắt giữ nhóm đối tượng trộm cắp tài sản",
        "Tòa án tuyên án tù kẻ cướp giật dây chuyền",
    ],
    "health": [
        "Bệnh viện tiếp nhận bệnh nhân sốt xuất huyết",
        "Bác sĩ khuyến cáo tiêm vắc xin phòng cúm",
    ],
}
SECTIONS = {
    "topic_vntc10": {
        "sport": "The thao",
        "business": "Kinh doanh",
        "crime": "Phap luat",
        "health": "Suc khoe",
    },
    "topic_vnexpress": {
        "sport": "Thể thao",
        "business": "Kinh doanh",
        "crime": "Pháp luật",
        "health": "Sức khỏe",
    },
    "topic_baomoi29": {
        "sport": "the thao - the thao dong doi - bong da",
        "business": "tai chinh",
        "crime": "chinh tri va phap luat",
        "health": "suc khoe",
    },
}
TONE_TEXTS = {
    "positive": ["Sản phẩm rất tốt, tôi rất hài lòng", "Máy chạy mượt, pin trâu, tuyệt vời"],
    "negative": ["Máy quá tệ, pin yếu, thất vọng", "Dịch vụ kém, nhân viên thái độ tồi"],
    "neutral": ["Máy có ba màu, bán từ tháng sau", "Cho mình hỏi giá bao nhiêu"],
}


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _variants(texts: list[str], n: int, file: str) -> Iterator[str]:
    # each file gets its own texts: rows shared with a test split would be dropped from training
    for i in range(n):
        yield f"{texts[i % len(texts)]} {file.split('_')[-1]} lần {i}"


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for prefix, sections in SECTIONS.items():
        stems = [s for s in CORPORA if s.startswith(prefix)]
        for stem in stems:
            rows = [
                {"title": "", "text": text, "label": sections[kind]}
                for kind, texts in TOPIC_TEXTS.items()
                for text in _variants(texts, 6, stem)
            ]
            _write(data / f"{stem}.jsonl.gz", rows + [{"text": "Bỏ qua", "label": "unmapped"}])
    for stem in (s for s in CORPORA if s.startswith("sentiment_")):
        rows = [
            {"text": t, "label": lab}
            for lab, texts in TONE_TEXTS.items()
            for t in _variants(texts, 10, stem)
        ]
        _write(data / f"{stem}.jsonl.gz", rows)
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "sentiment_news.jsonl").write_text(
        "".join(
            json.dumps(
                {"text": t, "label": lab, "source": "written for this project"}, ensure_ascii=False
            )
            + "\n"
            for lab, texts in TONE_TEXTS.items()
            for t in _variants(texts, 10, "news")
        ),
        encoding="utf-8",
    )
    return tmp_path


def test_train_then_eval_end_to_end(tiny_data: Path) -> None:
    options = [
        "--data", str(tiny_data / "data"), "--models", str(tiny_data / "models"),
        "--examples", str(tiny_data / "examples"), "--cache", str(tiny_data / "cache"),
        "--workers", "1",
    ]  # fmt: skip
    # the tiny data directory has no rows of the labelled corpus: relevance and severity, which
    # learn only from it, are trained in test_judgement.py
    trained = runner.invoke(cli, ["nlp", "train", "--no-feedback", "-t", "topic", *options])
    assert trained.exit_code == 0, trained.output
    assert "VNTC test (mapped)" in trained.output
    trained = runner.invoke(cli, ["nlp", "train", "--no-feedback", "-t", "sentiment", *options])
    assert trained.exit_code == 0, trained.output
    assert "VLSP 2016 test" in trained.output
    for task in ("topic", "sentiment"):
        manifest = json.loads((tiny_data / "models" / task / "manifest.json").read_text("utf-8"))
        assert manifest["exported_agrees_with_underthesea_core"] >= 0.995
    assert (
        json.loads((tiny_data / "models" / "sentiment" / "manifest.json").read_text("utf-8"))[
            "examples"
        ]["per_provenance"]["sentiment_news.jsonl"]
        > 0
    )
    assert list((tiny_data / "cache").glob("*.jsonl.gz"))

    evaluated = runner.invoke(cli, ["nlp", "eval", "--task", "sentiment", *options])
    assert evaluated.exit_code == 0, evaluated.output
    assert "macro-F1" in evaluated.output and "confusion matrix" in evaluated.output
    assert "domain examples held-out" in evaluated.output


def test_cli_usage_and_failure_exit_codes(tmp_path: Path) -> None:
    bad_task = runner.invoke(cli, ["nlp", "eval", "--task", "weather", "--data", str(tmp_path)])
    assert bad_task.exit_code == 2
    no_data = runner.invoke(cli, ["nlp", "train", "--data", str(tmp_path / "missing")])
    assert no_data.exit_code == 2
    no_model = runner.invoke(
        cli, ["nlp", "eval", "--data", str(tmp_path), "--models", str(tmp_path / "none")]
    )
    assert no_model.exit_code == 1 and "no model" in no_model.output


def test_sentiment_labels_are_the_three_tones() -> None:
    assert set(Classifier.shipped("sentiment").labels) == set(SENTIMENTS)
