"""Schema migrations, owned by Alembic; ``vigil db upgrade`` runs them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.db import get_engine, normalise_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    # Serialise concurrent upgrades (several pods starting at once) on an advisory lock.
    with get_engine(url).connect() as conn:
        conn.exec_driver_sql("SELECT pg_advisory_lock(7312001)")
        try:
            command.upgrade(alembic_config(url), revision)
        finally:
            conn.exec_driver_sql("SELECT pg_advisory_unlock(7312001)")
            conn.commit()


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
