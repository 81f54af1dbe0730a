"""The folders are the architecture: libraries never import the application, and only storage
imports SQLAlchemy. Checked on the source, so a stray import fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("library", ["crawlers", "nlp"])
def test_libraries_never_import_the_application(library: str) -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(i for i in _imports(p) if i.split(".")[0] == "monitor")
        for p in _modules(library)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_nlp_does_not_depend_on_crawlers() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in _modules("nlp")
        if any(i.split(".")[0] == "crawlers" for i in _imports(p))
    ]
    assert offenders == []


def test_only_storage_imports_sqlalchemy() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for pkg in ("monitor", "crawlers", "nlp")
        for p in _modules(pkg)
        if "storage" not in p.parts
        and any(i.split(".")[0] in ("sqlalchemy", "alembic") for i in _imports(p))
    ]
    assert offenders == []
