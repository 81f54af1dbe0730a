"""A tiny run of ``python -m bench search``: it fills, times the queries and prints each figure.

No figure is asserted against a target; the benchmark reports those, this only checks it measures
(and that its queries found what the generated items hold)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.search import CLASSES
from bench.searchdata import generate, load_corpus
from tests.conftest import PG_URL


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_small_run_prints_fill_size_and_latencies(
    small_corpora: Path, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend == "postgresql" and not PG_URL:
        pytest.skip("MONITOR_TEST_DATABASE_URL is not set")
    code = main(
        ["search", "--items", "600", "--queries", "30", "--writes", "40"]
        + ["--backend", backend, "--data", str(small_corpora)]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert re.search(rf"^backend +{backend}$", out, re.MULTILINE)
    assert re.search(r"^items +600 ", out, re.MULTILINE)
    assert re.search(r"^fill rate +[\d,]+ items/s", out, re.MULTILINE)
    assert re.search(r"^index size +[\d,]+ MiB \([\d,]+ B/item\)", out, re.MULTILINE)
    assert re.search(r"^write path +[\d,]+ items/s", out, re.MULTILINE)
    for kind in CLASSES:
        assert re.search(rf"^{re.escape(kind)} +3 +[\d.]+ +[\d.]+ +[\d.]+ ", out, re.MULTILINE), (
            kind
        )
    assert re.search(r"^all +30 ", out, re.MULTILINE)
    assert re.search(r"^p95 [\d.]+ ms +\[target < 100 ms: (PASS|MISS)\]", out, re.MULTILINE)


def test_generated_items_name_the_province_in_about_a_third(small_corpora: Path) -> None:
    rows = list(generate(load_corpus(small_corpora), 3000, seed=7))

    relevant = [r for r in rows if r.relevant]
    assert 0.28 < len(relevant) / len(rows) < 0.38
    assert all(r.places and r.places[-1]["name"] == "Nam Định" for r in relevant)
    assert [r.id for r in rows] == list(range(1, 3001))
    assert all(a.fetched_at < b.fetched_at for a, b in itertools.pairwise(rows))
    # Some typed without diacritics, as on social media.
    assert any("Nam Dinh" in r.text or "Hai Hau" in r.text for r in relevant)
