"""Make docs/digest.html and docs/digest.png: the digest of the test fixture's day.

Fills a fresh SQLite database with tests/fixtures/digest/days.json (plus plainer earlier days,
so the 14-day charts have a past) through the tests' own fill, runs the real command
``monitor digest --date 2025-07-01 --out docs/digest.html``, and, when Debian's chromium is
installed, screenshots the page headless. Run from the repository root::

    .venv/bin/python docs/make_digest_sample.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from typer.testing import CliRunner  # noqa: E402

from monitor.bootstrap import build_app  # noqa: E402
from monitor.cli import cli  # noqa: E402
from monitor.digest_cli import digest  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.test_digest import PEOPLE, fill, fixture_data, sources_of  # noqa: E402

DOCS = ROOT / "docs"


def main() -> int:
    """Fill, render through the command line, screenshot."""
    data = fixture_data()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'monitor.db'}"
        sections = {"analysis": {"analyser": "keyword"}, "oncall": {"people": PEOPLE}}
        app = build_app(make_settings(url, sources_of(data), **sections))
        fill(app, history=True)
        app.close()
        config = Path(tmp) / "config.yaml"
        settings = {"database": {"url": url}, "sources": sources_of(data), **sections}
        config.write_text(json.dumps(settings), encoding="utf-8")
        if "digest" not in {c.name for c in cli.registered_commands}:
            cli.command()(digest)  # as cli.py registers it
        out = DOCS / "digest.html"
        args = ["--config", str(config), "digest", "--date", data["day"], "--out", str(out)]
        result = CliRunner().invoke(cli, args)
        print(result.output, end="")
        if result.exit_code:
            return result.exit_code
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not installed: no PNG (apt-get install chromium)")
        return 0
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={DOCS / 'digest.png'}", "--window-size=1000,2600", out.as_uri()],
        check=True,
        capture_output=True,
    )  # fmt: skip
    print(f"written {DOCS / 'digest.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
