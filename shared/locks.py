"""Cross-instance coordination through PostgreSQL: single-run locks and interval gates."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from shared.db import get_engine


def _key(name: str) -> int:
    return zlib.crc32(f"vigil:{name}".encode())


@contextmanager
def single_run(name: str, url: str | None = None) -> Iterator[bool]:
    """Hold a session advisory lock named ``name`` without waiting.

    Yields True when this caller holds it (and releases it at the end), False when another run
    of the same kind is in progress; ticks that find it held simply end with 2xx.
    """
    conn = get_engine(url).connect()
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(name)}).scalar()
        conn.commit()
        try:
            yield bool(got)
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)})
                conn.commit()
    finally:
        conn.close()


def claim_interval(name: str, interval: dt.timedelta, url: str | None = None) -> bool:
    """True for exactly one caller per ``interval`` across all instances (compare-and-set)."""
    with get_engine(url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO job_runs (name, last_run_at) VALUES (:n, NULL) ON CONFLICT DO NOTHING"
            ),
            {"n": name},
        )
        row = conn.execute(
            text(
                "UPDATE job_runs SET last_run_at = (now() AT TIME ZONE 'utc') WHERE name = :n "
                "AND (last_run_at IS NULL OR last_run_at <= (now() AT TIME ZONE 'utc') - CAST(:iv AS interval)) "
                "RETURNING name"
            ),
            {"n": name, "iv": interval},
        ).first()
        return row is not None
