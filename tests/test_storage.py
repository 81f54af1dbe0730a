"""Schema migrations and storage guarantees, on every configured backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from crawlers.base import ItemRecord
from monitor.storage import db, repo
from monitor.storage.models import Item
from tests.conftest import AppFactory, Database

TABLES = {"sources", "crawl_runs", "items", "analyses", "cases", "case_events"}


def test_upgrade_downgrade_upgrade(database: Database) -> None:
    db.upgrade(database.engine)
    assert db.table_names(database.engine) >= TABLES
    db.downgrade(database.engine, "base")
    assert not TABLES & db.table_names(database.engine)
    db.upgrade(database.engine)
    assert db.table_names(database.engine) >= TABLES


def _record(url: str, **kw: object) -> ItemRecord:
    return ItemRecord(
        url=url, canonical_url=url, title=str(kw.pop("title", "Tiêu đề")), text="Nội dung", **kw
    )  # type: ignore[arg-type]


def test_times_come_back_aware_utc(make_app: AppFactory) -> None:
    app = make_app([{"id": "s", "kind": "rss", "url": "http://127.0.0.1/x"}])
    hanoi = timezone(timedelta(hours=7))
    with db.transaction(app.sessions) as session:
        repo.ingest(
            session,
            "s",
            [_record("https://a.vn/1", published_at=datetime(2025, 7, 1, 8, 0, tzinfo=hanoi))],
        )
    with app.sessions() as session:
        item = session.scalars(select(Item)).one()
    assert item.published_at == datetime(2025, 7, 1, 1, 0, tzinfo=UTC)
    assert item.published_at.tzinfo is not None and item.fetched_at.tzinfo is not None


def test_naive_datetimes_are_refused(make_app: AppFactory) -> None:
    app = make_app([{"id": "s", "kind": "rss", "url": "http://127.0.0.1/x"}])
    with pytest.raises(Exception, match="naive datetime"), db.transaction(app.sessions) as session:
        repo.ingest(session, "s", [_record("https://a.vn/1", published_at=datetime(2025, 7, 1))])
    with app.sessions() as session:
        assert session.scalars(select(Item)).all() == []


def test_ingest_is_idempotent_within_and_across_batches(make_app: AppFactory) -> None:
    app = make_app(
        [
            {"id": "s", "kind": "rss", "url": "http://127.0.0.1/x"},
            {"id": "t", "kind": "rss", "url": "http://127.0.0.1/y"},
        ]
    )
    with db.transaction(app.sessions) as session:
        first = repo.ingest(
            session,
            "s",
            [_record("https://a.vn/1"), _record("https://a.vn/1"), _record("https://a.vn/2")],
        )
    with db.transaction(app.sessions) as session:
        # The same story carried by another source is the same item, not a second copy.
        second = repo.ingest(session, "t", [_record("https://a.vn/2"), _record("https://a.vn/3")])
    assert (len(first.new), first.repeated) == (2, 1)
    assert (len(second.new), second.unchanged) == (1, 1)
    with app.sessions() as session:
        assert session.scalars(select(Item.source_id).order_by(Item.id)).all() == ["s", "s", "t"]


def test_removed_source_is_disabled_not_deleted(database: Database, make_app: AppFactory) -> None:
    make_app([{"id": "old", "kind": "rss", "url": "http://127.0.0.1/x"}])
    app = make_app([{"id": "new", "kind": "rss", "url": "http://127.0.0.1/y"}])
    from monitor.storage import queries

    assert {(r.id, r.enabled) for r in queries.sources_health(app.sessions)} == {
        ("old", False),
        ("new", True),
        ("manual", True),  # built in: where staff submissions go when no manual source is set
    }


def test_url_stored_concurrently_is_skipped_not_fatal(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app([{"id": "s", "kind": "rss", "url": "http://127.0.0.1/x"}])
    with db.transaction(app.sessions) as session:
        repo.ingest(session, "s", [_record("https://a.vn/1")])
    # Another run stores https://a.vn/1 between this run's look-up and its insert.
    monkeypatch.setattr(repo, "_existing", lambda session, keys: {})
    with db.transaction(app.sessions) as session:
        result = repo.ingest(session, "s", [_record("https://a.vn/1"), _record("https://a.vn/2")])
    assert ([r.canonical_url for _, r in result.new], result.unchanged) == (["https://a.vn/2"], 1)
    with app.sessions() as session:
        assert session.scalars(select(Item.canonical_url).order_by(Item.id)).all() == [
            "https://a.vn/1",
            "https://a.vn/2",
        ]


def test_a_failure_after_ingest_rolls_the_whole_run_back(make_app: AppFactory) -> None:
    app = make_app([{"id": "s", "kind": "rss", "url": "http://127.0.0.1/x"}])
    with pytest.raises(RuntimeError), db.transaction(app.sessions) as session:
        repo.ingest(session, "s", [_record("https://a.vn/1"), _record("https://a.vn/2")])
        raise RuntimeError("saving the analyses failed")
    with app.sessions() as session:
        assert session.scalars(select(Item)).all() == []


def test_migrations_match_the_models(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from monitor.storage.models import Base
    from monitor.storage.searchindex import include_object

    db.upgrade(database.engine)
    with database.engine.connect() as connection:
        # As alembic/env.py compares: the engine-specific search index is not in the models.
        context = MigrationContext.configure(connection, opts={"include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_two_sources_with_different_excerpts_do_not_overwrite_each_other(
    make_app: AppFactory,
) -> None:
    app = make_app(
        [
            {"id": "a", "kind": "rss", "url": "http://127.0.0.1/a"},
            {"id": "b", "kind": "rss", "url": "http://127.0.0.1/b"},
        ]
    )
    url = "https://baotinh.vn/de-bien.html"
    short = ItemRecord(url, url, "Đê biển", "Tóm tắt ngắn.")
    longer = ItemRecord(url, url, "Đê biển", "Tóm tắt dài hơn của một báo khác.")
    outcomes = []
    for source, record in [("a", short), ("b", longer), ("a", short), ("b", longer)]:
        with db.transaction(app.sessions) as session:
            result = repo.ingest(session, source, [record])
        outcomes.append((len(result.new), len(result.updated)))

    # The fuller copy replaces the excerpt once; after that neither source churns the item.
    assert outcomes == [(1, 0), (0, 1), (0, 0), (0, 0)]
    with app.sessions() as session:
        item = session.scalars(select(Item)).one()
    assert (item.source_id, item.text, item.meta["enriched_by"]) == ("a", longer.text, "b")
