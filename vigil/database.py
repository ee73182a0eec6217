"""Which database a local command uses: VIGIL_DATABASE_URL, or an embedded PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.settings import get_settings

DEFAULT_DATA_DIR = Path(os.environ.get("VIGIL_HOME", Path.home() / ".vigil")) / "pgdata"


@contextmanager
def resolve_url(explicit: str | None = None, data_dir: Path | None = None) -> Iterator[str]:
    """Yield a database URL; with none configured, run the embedded one for the block."""
    url = explicit or get_settings().database_url
    if url:
        yield url
        return
    from vigil import localdb

    folder = data_dir or DEFAULT_DATA_DIR
    server = localdb.start(folder)
    print(f"embedded PostgreSQL: data in {folder}, listening on 127.0.0.1:{server.port}")
    try:
        yield server.url
    finally:
        server.stop()
