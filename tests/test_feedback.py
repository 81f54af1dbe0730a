"""The analyst feedback loop: corrections stored as labels (who, what the analyser had said, a
note), refused with the allowed values when wrong, shown over the analysis, opening a case when
severity is raised to the case level, and trained on by ``nlp.training`` / ``monitor nlp train``."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crawlers.base import ItemRecord
from monitor import cases, feedback, stories
from monitor.bootstrap import App, build_app
from monitor.cli import cli
from monitor.errors import StorageError
from monitor.feedback import FeedbackError
from monitor.storage import db, labels, repo
from monitor.storage.models import Analysis as AnalysisRow
from monitor.storage.models import CaseEvent, Label
from nlp.base import Analysis
from nlp.classify import Classifier
from nlp.corpora import held_out, text_key
from nlp.labels import CORPORA
from nlp.text import prepare
from nlp.training import FEEDBACK, Paths, train
from tests.conftest import AppFactory, Database, make_settings

KEYWORD = {"analysis": {"analyser": "keyword"}}
T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
runner = CliRunner()


def analysis(
    severity: str = "watch", topic: str = "public_order", relevant: bool = True
) -> Analysis:
    return Analysis("test", relevant, 0.9, severity=severity, topic=topic, sentiment="negative")


def store(app: App, url: str, found: Analysis, title: str = "Tin", text: str = "Nội dung") -> int:
    """One item stored, analysed and grouped as the pipeline does; returns its id."""
    with db.transaction(app.sessions) as session:
        (item_id, _), *_ = repo.ingest(session, "manual", [ItemRecord(url, url, title, text)]).new
        repo.save_analyses(session, [(item_id, found)])
        stories.on_analysed(session, app.settings, [(item_id, found)], {item_id})
    return item_id


@pytest.fixture
def app(make_app: AppFactory) -> App:
    return make_app([], **KEYWORD)


def label_count(app: App) -> int:
    with app.sessions() as session:
        return len(session.scalars(select(Label.id)).all())


# --- storing and refusing corrections -----------------------------------------------------------


def test_a_correction_is_stored_with_author_previous_value_and_note(app: App) -> None:
    item = store(app, "https://a.vn/1", analysis())
    row = feedback.correct(
        app, item, "topic", " land_planning ", author=" Lan ", note="  tranh chấp đất  ", now=T0
    )
    assert (row.item_id, row.field, row.value, row.previous) == (
        item,
        "topic",
        "land_planning",
        "public_order",
    )
    assert (row.author, row.note, row.created_at) == ("Lan", "tranh chấp đất", T0)
    relevance = feedback.correct(app, item, "relevant", "No", author="Lan")
    assert (relevance.value, relevance.previous, relevance.note) == ("false", "true", None)
    assert feedback.history(app, item) == [relevance, row]
    with app.sessions() as session:  # the analyser's own verdict stays as it was
        kept = session.scalars(select(AnalysisRow).where(AnalysisRow.item_id == item)).one()
        assert (kept.topic, kept.relevant) == ("public_order", True)


def test_an_item_not_analysed_yet_can_be_corrected_with_no_previous_value(app: App) -> None:
    with db.transaction(app.sessions) as session:
        ((item, _),) = repo.ingest(session, "manual", [ItemRecord("u", "u", "T", "x")]).new
    assert feedback.correct(app, item, "sentiment", "positive", author="Lan").previous is None


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("mood", "happy", "relevant, topic, sentiment, severity"),
        ("topic", "weather", "policy_governance, administrative_reform"),
        ("sentiment", "angry", "negative, neutral, positive"),
        ("severity", "urgent", "none, watch, alert, critical"),
        ("relevant", "maybe", "yes, no"),
    ],
)
def test_a_bad_field_or_value_is_refused_naming_the_allowed_values(
    app: App, field: str, value: str, allowed: str
) -> None:
    item = store(app, "https://a.vn/1", analysis())
    with pytest.raises(FeedbackError) as refused:
        feedback.correct(app, item, field, value, author="Lan")
    vietnamese, english = str(refused.value).split(" / ")
    assert allowed in english
    assert all(value in vietnamese for value in allowed.split(", "))
    assert isinstance(refused.value, ValueError)
    assert label_count(app) == 0


def test_a_topic_must_be_one_the_settings_name(make_app: AppFactory) -> None:
    app = make_app([], topics={"flood_watch": "Theo dõi lũ"}, **KEYWORD)
    item = store(app, "https://a.vn/1", analysis())
    with pytest.raises(FeedbackError, match="flood_watch"):
        feedback.correct(app, item, "topic", "public_order", author="Lan")
    assert feedback.correct(app, item, "topic", "flood_watch", author="Lan").value == "flood_watch"
    assert feedback.allowed_values(app.settings, "topic") == ("flood_watch",)


def test_no_author_or_an_unknown_item_stores_nothing(app: App) -> None:
    item = store(app, "https://a.vn/1", analysis())
    with pytest.raises(FeedbackError, match="author"):
        feedback.correct(app, item, "sentiment", "neutral", author="  ")
    with pytest.raises(KeyError):
        feedback.correct(app, item + 999, "sentiment", "neutral", author="Lan")
    assert label_count(app) == 0


# --- reading corrections back ---------------------------------------------------------------------


def test_labels_for_an_item_come_newest_first(app: App) -> None:
    item = store(app, "https://a.vn/1", analysis())
    # stored out of time order: the order is by when, not by insertion
    for minutes, value in [(10, "neutral"), (30, "positive"), (0, "negative")]:
        feedback.correct(
            app, item, "sentiment", value, author="Lan", now=T0 + timedelta(minutes=minutes)
        )
    with app.sessions() as session:
        assert [r.value for r in labels.labels_for_item(session, item)] == [
            "positive",
            "neutral",
            "negative",
        ]


def test_current_corrections_pick_the_latest_per_field_and_item(app: App) -> None:
    first = store(app, "https://a.vn/1", analysis())
    second = store(app, "https://a.vn/2", analysis())
    untouched = store(app, "https://a.vn/3", analysis())
    feedback.correct(app, first, "topic", "health", author="Lan", now=T0 + timedelta(hours=2))
    feedback.correct(app, first, "topic", "education", author="Minh", now=T0)
    feedback.correct(app, first, "sentiment", "neutral", author="Minh", now=T0)
    feedback.correct(app, second, "topic", "education", author="Lan", now=T0)
    feedback.correct(app, second, "topic", "health", author="Minh", now=T0)  # same time: later id
    found = feedback.corrections(app, [first, second, untouched])
    assert set(found) == {first, second}
    assert (found[first]["topic"].value, found[first]["topic"].author) == ("health", "Lan")
    assert found[first]["sentiment"].value == "neutral"
    assert (found[second]["topic"].value, found[second]["topic"].author) == ("health", "Minh")


def test_effective_values_show_the_correction_and_who_made_it(app: App) -> None:
    item = store(app, "https://a.vn/1", analysis())
    feedback.correct(app, item, "sentiment", "positive", author="Lan")
    analysed = {"relevant": True, "topic": "public_order", "sentiment": "negative"}
    shown = feedback.effective(analysed, feedback.corrections(app, [item])[item])
    assert (shown["sentiment"].value, shown["sentiment"].analysed) == ("positive", "negative")
    assert shown["sentiment"].corrected_by == "Lan"
    assert (shown["topic"].value, shown["topic"].corrected_by) == ("public_order", None)
    assert shown["relevant"].value == "true" and shown["severity"].value is None


def test_training_labels_give_the_latest_correction_per_item(app: App) -> None:
    first = store(app, "https://a.vn/1", analysis(), title="Sạt lở đê", text="Đê bị sạt.")
    second = store(app, "https://a.vn/2", analysis(), title="Chỉ tiêu đề", text="")
    empty = store(app, "https://a.vn/3", analysis(), title=" ", text="")
    feedback.correct(app, first, "topic", "land_planning", author="Lan", now=T0)
    feedback.correct(
        app, first, "topic", "environment_disaster", author="Minh", now=T0 + timedelta(1)
    )
    feedback.correct(app, second, "topic", "other", author="Lan", now=T0)
    feedback.correct(app, empty, "topic", "other", author="Lan", now=T0)
    feedback.correct(app, second, "sentiment", "neutral", author="Lan", now=T0)
    with app.sessions() as session:
        assert labels.training_labels(session, "topic") == [
            ("Sạt lở đê", "Đê bị sạt.", "environment_disaster"),
            ("Chỉ tiêu đề", "", "other"),
        ]
        assert labels.training_labels(session, "sentiment") == [("Chỉ tiêu đề", "", "neutral")]


def test_training_feedback_reads_the_trainable_fields(app: App, database: Database) -> None:
    item = store(app, "https://a.vn/1", analysis(), title="Lúa mất mùa", text="Nông dân lo.")
    feedback.correct(app, item, "topic", "agriculture_fisheries", author="Lan")
    feedback.correct(app, item, "severity", "alert", author="Lan")
    read = feedback.training_feedback(app.settings, ["topic", "sentiment"], engine=database.engine)
    assert read == {
        "topic": [("Lúa mất mùa", "Nông dân lo.", "agriculture_fisheries")],
        "sentiment": [],
    }


def test_a_database_not_migrated_is_refused(database: Database) -> None:
    database.engine.connect().close()  # there, but empty (an SQLite file exists from now on)
    with pytest.raises(StorageError, match="no labels table: run `monitor db upgrade`"):
        feedback.training_feedback(make_settings(database.url), ["topic"], engine=database.engine)


def test_an_absent_sqlite_database_is_reported_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none' / 'monitor.db'}"
    with pytest.raises(StorageError, match="no database at"):
        feedback.training_feedback(make_settings(url), ["topic"])
    assert not (tmp_path / "none").exists()


# --- a severity raised to the case level ---------------------------------------------------------


def case_events(app: App) -> list[tuple[str, str]]:
    with app.sessions() as session:
        rows = session.execute(select(CaseEvent.actor, CaseEvent.action).order_by(CaseEvent.id))
        return [(actor, action) for actor, action in rows]


def test_severity_raised_to_the_case_level_opens_the_story_case(app: App) -> None:
    item = store(app, "https://a.vn/1", analysis("watch"))
    assert cases.list_cases(app.sessions) == []
    feedback.correct(app, item, "severity", "alert", author="Lan", note="dân tụ tập")
    (case,) = cases.list_cases(app.sessions)
    assert (case.severity, case.status) == ("alert", "new")
    assert case_events(app) == [("Lan", "opened"), ("system", "notify")]
    feedback.correct(app, item, "severity", "critical", author="Minh")
    (case,) = cases.list_cases(app.sessions)
    assert case.severity == "critical"
    assert ("Minh", "severity_raised") in case_events(app)
    assert case_events(app)[-1] == ("system", "notify")


def test_severity_below_the_case_level_or_lowered_opens_nothing(app: App) -> None:
    watched = store(app, "https://a.vn/1", analysis("none"))
    flagged = store(app, "https://a.vn/2", analysis("alert"), title="Khác", text="Bài khác hẳn")
    (case,) = cases.list_cases(app.sessions)
    before = case_events(app)
    feedback.correct(app, watched, "severity", "watch", author="Lan")
    feedback.correct(app, flagged, "severity", "none", author="Lan")
    assert [(c.id, c.severity) for c in cases.list_cases(app.sessions)] == [(case.id, "alert")]
    assert case_events(app) == before
    assert feedback.history(app, flagged)[0].previous == "alert"


# --- training on the corrections ----------------------------------------------------------------

TONES = {
    "positive": ["Sản phẩm rất tốt, tôi rất hài lòng", "Máy chạy mượt, pin trâu, tuyệt vời"],
    "negative": ["Máy quá tệ, pin yếu, thất vọng", "Dịch vụ kém, nhân viên thái độ tồi"],
    "neutral": ["Máy có ba màu, bán từ tháng sau", "Cho mình hỏi giá bao nhiêu"],
}
# Words no corpus row has: without the corrections both would get the same (bias-only) label.
CORRECTED = [
    ("", "Khói bụi xi măng phủ kín làng chài ven đê", "negative"),
    ("Đường điện mới về thôn", "Bà con phấn khởi đón Tết", "positive"),
]


def rows_of(stem: str) -> list[tuple[str, str]]:
    """(text, label): 8 of each tone, the texts told apart by the file's last word and a number."""
    return [
        (f"{texts[i % 2]} {stem.split('_')[-1]} lần {i}", label)
        for label, texts in TONES.items()
        for i in range(8)
    ]


def tiny_sentiment_data(root: Path) -> Paths:
    data = root / "data"
    data.mkdir()
    for stem in (s for s in CORPORA if s.startswith("sentiment_")):
        with gzip.open(data / f"{stem}.jsonl.gz", "wt", encoding="utf-8") as out:
            out.writelines(
                json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n"
                for text, label in rows_of(stem)
            )
    return Paths(data, root / "models", root / "no-examples", root / "cache")


def test_training_with_feedback_counts_and_learns_the_corrections(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = tiny_sentiment_data(tmp_path)
    in_a_test_split = ("", "Máy quá tệ, pin yếu, thất vọng test lần 0", "positive")
    given = [*CORRECTED, ("", "Một câu khác", "angry"), in_a_test_split]
    with caplog.at_level(logging.WARNING, logger="nlp.training"):
        result = train("sentiment", paths, feedback=given)
    assert "'angry'" in caplog.text
    examples, used = result.manifest["examples"], result.manifest["feedback"]
    assert examples["feedback"] == 2 and examples["per_provenance"][FEEDBACK] == 2
    assert examples["per_provenance_label"][FEEDBACK] == {"negative": 1, "positive": 1}
    # corrections weigh above the labelled corpus, which weighs above the public corpora
    labelled_repeat = result.manifest["hyperparameters"]["repeats"]["labelled corpus"]
    assert (used["given"], used["used"]) == (4, 2) and used["repeat"] > labelled_repeat > 1
    assert used["skipped"] == {"test_duplicate": 1, "unknown_label": 1}
    # the test splits are the files' rows only, never a correction
    comments = [text for text, _ in rows_of("sentiment_vnexpress_comments")]
    assert {split: m["n"] for split, m in result.manifest["metrics"].items()} == {
        "VLSP 2016 test": 24,
        "VnExpress comments held-out (1 in 5)": sum(held_out(text_key("", t)) for t in comments),
        "UIT-VSFC test": 24,
    }
    written = json.loads((paths.models_dir / "sentiment" / "manifest.json").read_text("utf-8"))
    assert written["examples"]["feedback"] == 2
    model = Classifier(paths.models_dir / "sentiment")
    for title, text, label in CORRECTED:
        assert model.predict(prepare(title, text).words)[0] == label


def test_a_correction_replaces_an_example_with_the_same_text(tmp_path: Path) -> None:
    paths = tiny_sentiment_data(tmp_path)
    relabelled = ("", "Máy có ba màu, bán từ tháng sau train lần 0", "negative")
    result = train("sentiment", paths, feedback=[relabelled])
    assert result.manifest["feedback"]["replaced_examples"] == 1
    assert result.manifest["examples"]["per_provenance_label"][FEEDBACK] == {"negative": 1}


# --- monitor nlp train --------------------------------------------------------------------------


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: {url}\n", encoding="utf-8")
    return config


def flat(output: str) -> str:
    """The output with the console's line wrapping undone."""
    return " ".join(output.split())


def nlp_train(config: Path, paths: Paths, *extra: str) -> Any:
    return runner.invoke(
        cli,
        [
            "--config", str(config), "nlp", "train", "--task", "sentiment",
            "--data", str(paths.data_dir), "--models", str(paths.models_dir),
            "--examples", str(paths.examples_dir), "--cache", str(paths.cache_dir),
            "--workers", "1", *extra,
        ],
    )  # fmt: skip


def test_monitor_nlp_train_reads_the_corrections_from_the_configured_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    app = build_app(make_settings(url, [], **KEYWORD))
    try:
        for n, (title, text, label) in enumerate(CORRECTED):
            item = store(app, f"https://a.vn/{n}", analysis(), title=title, text=text)
            feedback.correct(app, item, "sentiment", label, author="Lan")
    finally:
        app.close()
    paths = tiny_sentiment_data(tmp_path)
    trained = nlp_train(write_config(tmp_path, url), paths)
    assert trained.exit_code == 0, trained.output
    assert "sentiment: analysts' corrections: 2 of 2 used" in trained.output
    manifest = json.loads((paths.models_dir / "sentiment" / "manifest.json").read_text("utf-8"))
    assert manifest["examples"]["feedback"] == 2

    again = nlp_train(write_config(tmp_path, url), paths, "--no-feedback")
    assert again.exit_code == 0, again.output
    assert "analysts' corrections: not read" in again.output


def test_an_unreadable_database_is_a_warning_unless_feedback_was_asked_for(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'absent.db'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    paths = Paths(empty, tmp_path / "models", tmp_path / "examples", tmp_path / "cache")
    asked = nlp_train(config, paths, "--feedback")
    assert asked.exit_code == 1
    assert "--feedback: analysts' corrections cannot be read: no database at" in flat(asked.output)
    assert "missing" not in asked.output  # refused before training
    # not asked: a warning, then training goes on (and here fails on the missing corpora)
    implicit = nlp_train(config, paths)
    output = flat(implicit.output)
    assert "warning: training without analysts' corrections: no database at" in output
    assert "sentiment_vlsp2016_train.jsonl.gz missing" in implicit.output.replace("\n", "")
    assert implicit.exit_code == 1
    assert not (tmp_path / "absent.db").exists()
