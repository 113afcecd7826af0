"""The store on PostgreSQL: replicas migrating at once, the same schema as on SQLite, the database going away."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.exc import OperationalError

from kubegate.store import schema as t
from kubegate.store.database import MIGRATIONS, Store
from postgres import Postgres

REPLICAS = 3


def head() -> str:
    return str(ScriptDirectory(str(MIGRATIONS)).get_current_head())


def shape(engine: Engine) -> dict[str, Any]:
    """Tables, their columns in order, primary keys, unique columns and index names: what the migrations
    made. (PostgreSQL also lists the index behind each unique constraint; the constraint is compared instead.)"""
    found = inspect(engine)
    return {
        table: {
            "columns": [c["name"] for c in found.get_columns(table)],
            "primary_key": found.get_pk_constraint(table)["constrained_columns"],
            "unique": sorted(u["column_names"] for u in found.get_unique_constraints(table)),
            "indexes": sorted(str(i["name"]) for i in found.get_indexes(table) if "duplicates_constraint" not in i),
        }
        for table in sorted(found.get_table_names())
    }


# One replica: import everything, say so, wait for "go" on stdin, then open the store.
REPLICA = """
import sys
from kubegate.store.database import Store
print("ready", flush=True)
sys.stdin.readline()
Store(sys.argv[1]).close()
"""


@pytest.mark.parametrize("attempt", range(3))
def test_replicas_starting_at_once_all_migrate(postgres: Postgres, attempt: int) -> None:
    """Replicas (processes: Alembic's context is per process) open a Store on the same empty database
    at the same moment: the advisory lock runs the migrations once, and the others wait, then find
    head. Without it, they collide on alembic_version and the tables."""
    url = postgres.fresh_database()
    replicas = [subprocess.Popen([sys.executable, "-c", REPLICA, url], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(REPLICAS)]
    try:
        for replica in replicas:
            assert replica.stdout is not None and replica.stdout.readline() == "ready\n"
        for replica in replicas:  # all at once
            assert replica.stdin is not None
            replica.stdin.write("go\n")
            replica.stdin.flush()
        outcomes = [(replica.wait(timeout=60), replica.stderr.read() if replica.stderr else "")
                    for replica in replicas]
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.kill()
    assert outcomes == [(0, "")] * REPLICAS
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head()]
            assert connection.execute(select(t.iam_generation)).all() == [(1, 0)]  # 0006's row, inserted once
    finally:
        engine.dispose()


def test_same_schema_as_sqlite(postgres: Postgres, tmp_path: Path) -> None:
    on_sqlite = Store(f"sqlite:///{tmp_path / 'k.db'}")
    on_postgres = Store(postgres.fresh_database())
    try:
        assert shape(on_postgres.engine) == shape(on_sqlite.engine)
        assert set(shape(on_postgres.engine)) == set(t.metadata.tables) | {"alembic_version"}
    finally:
        on_sqlite.close()
        on_postgres.close()


def test_database_going_away_and_coming_back(postgres: Postgres) -> None:
    """The engine Store makes for PostgreSQL: while the server is down a connection fails fast (no
    hang); once it is back, the pool's dead connections are replaced (pre-ping) and the next call works.
    (What the store's callers see of a failure is the store's own error, tested with it.)"""
    store = Store(postgres.fresh_database())
    try:
        assert store.engine.pool.checkedin() == 1  # the migration's connection, now dead once the server stops
        postgres.stop()
        try:
            started = time.monotonic()
            with pytest.raises(OperationalError):
                with store.engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
            assert time.monotonic() - started < 3
        finally:
            postgres.start()
        with store.transaction() as tx:
            assert tx.cluster_names() == []
    finally:
        store.close()
