"""A tiny run of ``python -m bench pages``: it fills, signs in, requests every page and prints
p50/p95/max per page with a verdict for the two pages the issue sets a target for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.pages import PAGES
from tests.conftest import PG_URL


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_small_run_times_every_page(
    small_corpora: Path, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend == "postgresql" and not PG_URL:
        pytest.skip("MONITOR_TEST_DATABASE_URL is not set")
    code = main(
        ["pages", "--items", "500", "--cases", "60", "--open", "10", "--requests", "3"]
        + ["--backend", backend, "--data", str(small_corpora)]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert f"{backend}: 500 items filled" in out
    for page in PAGES:
        assert re.search(rf"^  {re.escape(page)} +[\d.]+ +[\d.]+ +[\d.]+", out, re.MULTILINE), page
    assert len(re.findall(r"(PASS|MISS) p95 < 200 ms", out)) == 2
