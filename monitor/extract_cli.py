"""``monitor extract FILE...``: article pages on disk -> one JSON line each on stdout.

Exit codes as for every ``monitor`` command: 0 ok, 1 a file could not be read (the others are
still printed), 2 bad usage.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import zlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from crawlers.extract import extract_article

# A page is a few hundred kilobytes; a gzip bomb should not take the machine's memory.
MAX_PAGE_BYTES = 50_000_000
_GZIP_MAGIC = b"\x1f\x8b"
err = Console(stderr=True)


def read_page(path: Path) -> bytes:
    """A page's bytes, gunzipped when the file is gzip (by its magic bytes or .gz suffix)."""
    with path.open("rb") as handle:
        raw = handle.read(MAX_PAGE_BYTES + 1)
    if raw.startswith(_GZIP_MAGIC) or path.suffix == ".gz":
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unzipped:
            raw = unzipped.read(MAX_PAGE_BYTES + 1)
    if len(raw) > MAX_PAGE_BYTES:
        raise ValueError(f"larger than {MAX_PAGE_BYTES:,} bytes")
    return raw


def extract(
    files: Annotated[
        list[Path],
        typer.Argument(help="Saved article pages (.html or .html.gz).", show_default=False),
    ],
    url: Annotated[
        str | None,
        typer.Option("--url", help="The pages' URL (resolves links; default: the file's path)."),
    ] = None,
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA zone for dates written without one.")
    ] = "UTC",
) -> None:
    """Extract title, text, published time, author and language: one JSON line per file."""
    failed = 0
    for path in files:
        try:
            content = read_page(path)
        except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile) as exc:
            err.print(f"[red]error:[/red] {path}: {_reason(exc)}", highlight=False, soft_wrap=True)
            failed += 1
            continue
        article = extract_article(content, url or path.resolve().as_uri(), timezone=timezone)
        line = {
            "file": str(path),
            "title": article.title,
            "text": article.text,
            "published": article.published.isoformat() if article.published else None,
            "author": article.author,
            "language": article.language,
        }
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    if failed:
        err.print(
            f"{failed} of {len(files)} file(s) could not be read", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
