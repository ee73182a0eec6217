"""A real MariaDB and a second PostgreSQL database holding Masakari 22.0.0's schema and rows.

The schema and rows come from tests/masakari/ (made by the real Masakari, see its README);
each test gets them fresh, so it may change the Masakari side with plain SQL.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Boolean, MetaData, create_engine, text

from shared.masakari_import import source_engine
from vigil import localdb, localmariadb
from vigil.cli import main

DUMPS = Path(__file__).resolve().parent.parent / "masakari"
TABLES = ("failover_segments", "hosts", "notifications", "vmoves")


@pytest.fixture(scope="session")
def mariadb():
    """One MariaDB server for the session; missing → a failure that says how to install it."""
    try:
        server = localmariadb.start()
    except localmariadb.MariaDBError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@dataclass
class MasakariDatabase:
    """A Masakari database: its URL and a way to run SQL on it as Masakari's own rows."""

    url: str

    def sql(self, *statements: str, **params) -> list:
        engine = source_engine(self.url)
        rows: list = []
        try:
            with engine.begin() as conn:
                for statement in statements:
                    result = conn.execute(text(statement), params)
                    if result.returns_rows:
                        rows = [tuple(r) for r in result]
        finally:
            engine.dispose()
        return rows


@pytest.fixture
def masakari(mariadb) -> MasakariDatabase:
    """Masakari's schema and the rows its API wrote, in a fresh MariaDB database."""
    mariadb.create_database("masakari", fresh=True)
    mariadb.load("masakari", DUMPS / "mariadb-schema.sql")
    mariadb.load("masakari", DUMPS / "mariadb-data.sql")
    return MasakariDatabase(mariadb.url_for("masakari"))


@pytest.fixture
def masakari_pg(postgres, masakari) -> MasakariDatabase:
    """The same rows in Masakari's PostgreSQL schema: a second database on the embedded server."""
    import pg8000.native

    admin = pg8000.native.Connection("postgres", host="127.0.0.1", port=postgres.port)
    try:
        admin.run("DROP DATABASE IF EXISTS masakari WITH (FORCE)")
        admin.run("CREATE DATABASE masakari")
    finally:
        admin.close()
    psql = localdb._bin_dir() / "psql"
    subprocess.run(
        [str(psql), "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(postgres.port)]
        + ["-U", "postgres", "-d", "masakari", "-f", str(DUMPS / "postgresql-schema.sql")],
        check=True,
        capture_output=True,
    )
    url = postgres.url_for("masakari")
    copy_rows(masakari.url, url)
    return MasakariDatabase(url)


def copy_rows(source_url: str, target_url: str) -> None:
    """Copy Masakari's rows between its MySQL and PostgreSQL schemas (tinyint → boolean)."""
    source, target = source_engine(source_url), create_engine(target_url)
    try:
        with source.connect() as src, target.begin() as dst:
            theirs, ours = MetaData(), MetaData()
            theirs.reflect(src, only=TABLES)
            ours.reflect(dst, only=TABLES)
            for name in TABLES:
                table = ours.tables[name]
                flags = [c.name for c in table.columns if isinstance(c.type, Boolean)]
                rows = [dict(r) for r in src.execute(theirs.tables[name].select()).mappings()]
                for row in rows:
                    row.update({f: None if row[f] is None else bool(row[f]) for f in flags})
                if rows:
                    dst.execute(table.insert(), rows)
    finally:
        source.dispose()
        target.dispose()


@dataclass
class Outcome:
    status: int
    out: str
    err: str


@pytest.fixture
def run_import(db, capsys):
    """``vigil db import-masakari`` in-process against the test database."""

    def run(source: str, *extra: str) -> Outcome:
        capsys.readouterr()
        status = main(["db", "import-masakari", "--from", source, "--database-url", db, *extra])
        captured = capsys.readouterr()
        return Outcome(status, captured.out, captured.err)

    return run
