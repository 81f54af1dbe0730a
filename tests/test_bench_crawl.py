"""A tiny run of ``python -m bench crawl``: the per-host limit holds and every item is stored.

No timing is asserted; the benchmark prints its figures, this only checks that it measures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import crawl


def test_a_small_crawl_pass_keeps_the_per_host_limit(tmp_path: Path) -> None:
    plan = crawl.Plan(sources=6, hosts=2, per_host=2, workers=4, articles=2, latency=0.0)
    kinds, _ = crawl.available_kinds(crawl.KINDS)

    outcome = crawl.run(plan, kinds, tmp_path)

    assert crawl.problems(outcome) == []
    assert outcome.limit_held and 1 <= outcome.server_peak <= 2
    assert outcome.stored == outcome.expected > 0
    assert all(host.requests["robots.txt"] == 1 for host in outcome.hosts)


def test_the_command_prints_whether_the_limit_held(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.__main__ import main

    code = main(["crawl", "--sources", "3", "--hosts", "1", "--articles", "1", "--latency", "0"])

    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^per-host limit held +yes$", out, re.MULTILINE)
    assert re.search(r"^items stored +\d+ +\(expected \d+\)$", out, re.MULTILINE)
