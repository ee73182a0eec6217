"""Session fixtures: one embedded PostgreSQL, migrated once; tables emptied between tests."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from shared import db as shared_db
from shared.migrate import upgrade
from shared.models import Base
from shared.settings import get_settings
from vigil import localdb

pytest_plugins = ["vigilsim.pytest_plugin"]


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL for the whole run (fsync off: test data is thrown away)."""
    server = localdb.start(durable=False)
    yield server
    shared_db.dispose_engines()
    server.stop()


@pytest.fixture(scope="session")
def database_url(postgres):
    """The migrated test database; also exported as VIGIL_DATABASE_URL for in-process code."""
    url = postgres.url
    upgrade(url)
    os.environ["VIGIL_DATABASE_URL"] = url
    get_settings.cache_clear()
    return url


@pytest.fixture
def db(database_url):
    """A clean database for one test: every table emptied before it runs."""
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with shared_db.get_engine(database_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database_url
