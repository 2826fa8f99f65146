"""The store's schema versions are frozen steps, and a store written by the previous release migrates."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lambdaguard.collector import migrations
from lambdaguard.collector.store import SCHEMA_VERSION, open_store

DATA = Path(__file__).parent / "data"
ORDERS = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
KMS = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _schema(url: str) -> dict[str, Any]:
    """Every lg_ table's columns (name, type family, nullable) and primary key."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        inspector = sa.inspect(engine)
        out: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            if not table.startswith("lg_"):
                continue
            columns = tuple(
                (c["name"], type(c["type"]).__name__.upper(), c["nullable"])
                for c in sorted(inspector.get_columns(table), key=lambda c: c["name"])
            )
            pk = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
            out[table] = (columns, pk)
        return out
    finally:
        engine.dispose()


def _load_v1(url: str, backend: str) -> None:
    if backend == "sqlite":
        path = url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path)
        con.executescript((DATA / "store-v1.sql").read_text())
        con.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((DATA / "store-v1.pg.sql").read_text().encode())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn."""
    return str(request.param)


def _url(backend: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / name / 'lambdaguard.db'}"
    return str(request.getfixturevalue("pg_database")())


def test_a_store_made_by_the_previous_release_migrates_with_its_data(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A 0.1.0 (v1) store reaches the newest schema, identical to a fresh one, its evidence intact."""
    old_url = _url(backend, tmp_path, request, "old")
    _load_v1(old_url, backend)
    store = open_store(old_url, migrate=False)
    assert store.schema_version() == 1
    assert store.migrate() == SCHEMA_VERSION
    fresh_url = _url(backend, tmp_path, request, "fresh")
    open_store(fresh_url).close()
    assert _schema(old_url) == _schema(fresh_url)

    names = sorted(f.name for f in store.functions())
    assert names == ["legacy", "orders"]
    calls = {(c.service, c.operation): c for c in store.calls(ORDERS)}
    assert calls["s3", "PutObject"].response == {"SSEKMSKeyId": KMS}
    assert calls["s3", "PutObject"].params == {"Bucket": "orders", "Key": "in/"}
    assert calls["dynamodb", "PutItem"].response == {}
    assert all(c.count == 3 and c.params_complete for c in calls.values())
    (orders,) = [f for f in store.functions() if f.name == "orders"]
    assert orders.last_invoked is not None
    hosts = {(h.host, h.tls) for h in store.hosts(ORDERS)}
    assert hosts == {("api.example.com", True), ("plain.example.com", False)}
    assert sum(d.count for d in store.invocations(ORDERS)) == 3
    store.close()


def test_each_version_is_built_by_its_own_frozen_step(tmp_path: Path) -> None:
    """Applying only step 1 gives exactly the schema 0.1.0 wrote, whatever the live tables say."""
    url = f"sqlite:///{tmp_path / 'v1only.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        migrations.MIGRATIONS[1](conn)
    engine.dispose()
    reference = f"sqlite:///{tmp_path / 'release.db'}"
    _load_v1(reference, "sqlite")
    expected = {k: v for k, v in _schema(reference).items() if k != "lg_schema_version"}
    assert _schema(url) == expected


def test_schema_version_is_the_last_step() -> None:
    """Steps are numbered 1..N without gaps, and the store's version is N."""
    assert sorted(migrations.MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))


def test_an_inventory_kept_before_v8_is_listed_and_asks_for_a_new_reading(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A v7 store's inventory rows get empty facts and no reading: listed, not judged, and said so."""
    from lambdaguard.analysis.stored import stored_inventory

    url = _url(backend, tmp_path, request, "v7")
    if backend == "sqlite":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE lg_schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
        )
        for version in range(1, 8):
            migrations.MIGRATIONS[version](conn)
            conn.exec_driver_sql(
                f"INSERT INTO lg_schema_version (version, applied_at) VALUES ({version}, 0)"
            )
        conn.exec_driver_sql(
            "INSERT INTO lg_inventory (arn, account, region, name, runtime, role, package_type, "
            "architectures, layers, lambdaguard, tags, state, last_modified, source, read_at) "
            f"VALUES ('{ORDERS}', '123456789012', 'eu-west-1', 'orders', 'python3.12', '', 'Zip', "
            "'[]', '[]', FALSE, '{}', 'Active', 0, 'live', 1700000000000000000)"
        )
    engine.dispose()
    store = open_store(url, migrate=False)
    try:
        assert store.schema_version() == 7
        assert store.migrate() == SCHEMA_VERSION
        (entry,) = store.inventory()
        assert entry.name == "orders"
        assert dict(entry.facts) == {}
        assert store.inventory_readings() == []
        found = stored_inventory(store)
    finally:
        store.close()
    assert found is not None
    assert found.findings == ()
    assert found.listed_only == 1
    assert "run `lambdaguard inventory` again" in found.warnings[0]
