"""Seeding helpers for the purge tests: rows aged relative to now, inserted with plain SQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.db import get_engine, utcnow
from shared.models import (
    HealthSample,
    Host,
    HostMonitorState,
    Notification,
    RecoveryAttempt,
    RecoveryProgress,
    Segment,
    VMove,
)
from shared.settings import get_settings

ALL_MODELS = (
    Notification,
    VMove,
    RecoveryProgress,
    RecoveryAttempt,
    Host,
    HostMonitorState,
    Segment,
    HealthSample,
)


def days_ago(days: float | None) -> dt.datetime | None:
    return None if days is None else utcnow() - dt.timedelta(days=days)


class Seeder:
    """Creates rows the way the api, recover and monitor leave them."""

    def __init__(self, url: str):
        self.engine = get_engine(url)

    def _insert(self, model, **values):
        with self.engine.begin() as conn:
            conn.execute(insert(model).values(**values))

    @staticmethod
    def _create(conn, model, deleted_days: float | None, **values) -> None:
        """Insert one row; soft-delete it ``deleted_days`` ago the way Masakari does (deleted = id)."""
        row_id = conn.execute(insert(model).values(**values).returning(model.id)).scalar_one()
        if deleted_days is not None:
            conn.execute(
                model.__table__.update()
                .where(model.id == row_id)
                .values(deleted=row_id, deleted_at=days_ago(deleted_days))
            )

    def segment(self, name: str, deleted_days: float | None = None) -> str:
        seg_uuid = str(uuid.uuid4())
        with self.engine.begin() as conn:
            self._create(
                conn,
                Segment,
                deleted_days,
                uuid=seg_uuid,
                name=name,
                service_type="COMPUTE",
                recovery_method="auto",
                created_at=days_ago(400),
            )
        return seg_uuid

    def host(
        self,
        name: str,
        segment_uuid: str,
        deleted_days: float | None = None,
        monitored: bool = True,
    ) -> str:
        host_uuid = str(uuid.uuid4())
        with self.engine.begin() as conn:
            self._create(
                conn,
                Host,
                deleted_days,
                uuid=host_uuid,
                name=name,
                type="COMPUTE",
                control_attributes="SSH",
                failover_segment_id=segment_uuid,
                created_at=days_ago(400),
                updated_at=days_ago(300),
            )
            if monitored:
                conn.execute(
                    pg_insert(HostMonitorState)
                    .values(
                        host_name=name, host_uuid=host_uuid, settled_state="alive", transitions=[]
                    )
                    .on_conflict_do_nothing()
                )
        return host_uuid

    def notification(
        self,
        status: str,
        updated_days: float | None,
        children: int = 2,
        host_uuid: str | None = None,
        segment_uuid: str | None = None,
    ) -> str:
        """A notification with ``children`` vmoves, progress rows and one attempt."""
        n_uuid = str(uuid.uuid4())
        created = days_ago(updated_days + 1 if updated_days is not None else 400)
        with self.engine.begin() as conn:
            conn.execute(
                insert(Notification).values(
                    notification_uuid=n_uuid,
                    generated_time=created,
                    type="COMPUTE_HOST",
                    payload={
                        "event": "STOPPED",
                        "host_status": "NORMAL",
                        "cluster_status": "OFFLINE",
                    },
                    status=status,
                    source_host_uuid=host_uuid or str(uuid.uuid4()),
                    failover_segment_uuid=segment_uuid or str(uuid.uuid4()),
                    created_at=created,
                    updated_at=days_ago(updated_days),
                )
            )
            if children:
                conn.execute(
                    insert(VMove),
                    [
                        dict(
                            uuid=str(uuid.uuid4()),
                            notification_uuid=n_uuid,
                            instance_uuid=str(uuid.uuid4()),
                            instance_name=f"vm-{i}",
                            type="evacuation",
                            status="succeeded",
                            created_at=created,
                        )
                        for i in range(children)
                    ],
                )
                conn.execute(
                    insert(RecoveryProgress),
                    [
                        dict(
                            notification_uuid=n_uuid,
                            attempt=1,
                            step_name=f"step_{i}",
                            state="SUCCESS",
                            progress=1.0,
                            details=[],
                            created_at=created,
                        )
                        for i in range(children)
                    ],
                )
                conn.execute(
                    insert(RecoveryAttempt).values(
                        notification_uuid=n_uuid,
                        number=1,
                        kind="auto",
                        outcome="succeeded",
                        started_at=created,
                    )
                )
        return n_uuid

    def vmove(self, notification_uuid: str, deleted_days: float | None) -> str:
        vm_uuid = str(uuid.uuid4())
        with self.engine.begin() as conn:
            self._create(
                conn,
                VMove,
                deleted_days,
                uuid=vm_uuid,
                notification_uuid=notification_uuid,
                instance_uuid=str(uuid.uuid4()),
                instance_name="vm-x",
                type="evacuation",
                status="succeeded",
                created_at=days_ago(400),
            )
        return vm_uuid

    def health_sample(self, host_name: str, age: dt.timedelta) -> None:
        self._insert(
            HealthSample, host_name=host_name, sampled_at=utcnow() - age, ready="True", verdict="up"
        )

    def count(self, model) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(model)).scalar_one()

    def counts(self) -> dict[str, int]:
        return {model.__tablename__: self.count(model) for model in ALL_MODELS}

    def uuids(self, model, column=None) -> set[str]:
        column = column if column is not None else model.uuid
        with self.engine.connect() as conn:
            return set(conn.execute(select(column)).scalars())


@pytest.fixture
def seed(db) -> Seeder:
    return Seeder(db)


@pytest.fixture
def purge_env(monkeypatch):
    """Set VIGIL_PURGE__* values for one test; settings are re-read before and after."""

    def setenv(**values):
        for key, value in values.items():
            monkeypatch.setenv(f"VIGIL_PURGE__{key.upper()}", str(value))
        get_settings.cache_clear()

    yield setenv
    monkeypatch.undo()
    get_settings.cache_clear()
