"""The ingest benchmark still runs end to end (on a tiny corpus; its figures are not asserted)."""

from __future__ import annotations

import pytest

from bench.__main__ import main


def test_ingest_benchmark_runs_and_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--feeds", "3", "--entries", "4"]) == 0
    out = capsys.readouterr().out
    assert "items stored             12" in out
    for label in ("stored items/s", "parse-only items/s", "ratio stored/parse-only", "peak memory"):
        assert label in out
