"""A tiny run of ``python -m bench pages``: it fills, signs in, requests every page and prints
p50/p95/max per page with a verdict for the two pages the issue sets a target for."""

from __future__ import annotations

import gzip
import itertools
import re
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.pages import PAGES
from bench.searchdata import CORPORA, DATA
from tests.conftest import PG_URL


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    """The first 300 rows of each topic corpus."""
    if not all((DATA / name).is_file() for name in CORPORA):
        pytest.skip(f"the topic corpora are not in {DATA}")
    for name in CORPORA:
        with gzip.open(DATA / name, "rb") as source, gzip.open(tmp_path / name, "wb") as small:
            small.writelines(itertools.islice(source, 300))
    return tmp_path


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_small_run_times_every_page(
    small_data: Path, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend == "postgresql" and not PG_URL:
        pytest.skip("MONITOR_TEST_DATABASE_URL is not set")
    code = main(
        ["pages", "--items", "500", "--cases", "60", "--open", "10", "--requests", "3"]
        + ["--backend", backend, "--data", str(small_data)]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert f"{backend}: 500 items filled" in out
    for page in PAGES:
        assert re.search(rf"^  {re.escape(page)} +[\d.]+ +[\d.]+ +[\d.]+", out, re.MULTILINE), page
    assert len(re.findall(r"(PASS|MISS) p95 < 200 ms", out)) == 2
