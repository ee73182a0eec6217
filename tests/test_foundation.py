"""The schema Alembic builds is the one the models describe, and upgrades are repeatable."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.db import get_engine
from shared.migrate import current, upgrade
from shared.models import Base


def test_migrations_match_the_models(database_url):
    with get_engine(database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_twice_is_harmless_and_reaches_head(database_url):
    upgrade(database_url)
    from alembic.script import ScriptDirectory

    from shared.migrate import alembic_config

    assert (
        current(database_url)
        == ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    )
