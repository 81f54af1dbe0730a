"""A tiny run of ``python -m bench stories``: it groups, scores and times, and prints each figure.

No figure is asserted against a target; the benchmark reports those, this only checks it measures."""

from __future__ import annotations

import gzip
import itertools
import re
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.stories import DATA, pair_scores


def test_pair_scores_count_pairs_within_groups() -> None:
    # truth: {0,1,2} {3} ; predicted: {0,1} {2,3}
    scores = pair_scores([1, 1, 1, 2], ["a", "a", "b", "b"])

    assert (scores.true_pairs, scores.predicted_pairs, scores.correct_pairs) == (3, 2, 1)
    assert (scores.precision, scores.recall) == (0.5, pytest.approx(1 / 3))


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """The first 150 real articles of the corpus (reading all 48 MB would be most of the test)."""
    if not DATA.is_file():
        pytest.skip(f"{DATA} is not there")
    path = tmp_path / "small.jsonl.gz"
    with gzip.open(DATA, "rb") as source, gzip.open(path, "wb") as small:
        small.writelines(itertools.islice(source, 150))
    return path


def test_a_small_run_prints_quality_and_speed(
    small_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["stories", "--articles", "6", "--sizes", "300,600", "--timed", "20"]
        + ["--data", str(small_corpus)]
    )

    out = capsys.readouterr().out
    assert code == 0
    for label in ("pair precision", "pair recall", "pair F1"):
        assert re.search(rf"^{label} +[01]\.\d{{4}}", out, re.MULTILINE), label
    assert re.search(r"^URL variants stored +0 of \d+", out, re.MULTILINE)
    assert re.search(r"^ +300 +[\d.]+ +20 +[\d.]+ ", out, re.MULTILINE)
    assert re.search(r"^ +600 +[\d.]+ +20 +[\d.]+ ", out, re.MULTILINE)
    assert re.search(r"^ratio 600 / 300: [\d.]+", out, re.MULTILINE)
    assert "tracemalloc peak" in out
