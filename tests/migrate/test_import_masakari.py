"""``vigil db import-masakari`` on a real Masakari 22.0.0 database (MariaDB and PostgreSQL)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from sqlalchemy import select

from shared.db import session_scope, utcnow
from shared.models import Host, Notification, Segment, VMove
from vigil.localdb import free_port

SEGMENT_COLUMNS = "uuid, id, name, service_type, description, recovery_method, enabled, deleted"
HOST_COLUMNS = (
    "uuid, id, name, reserved, type, control_attributes, on_maintenance, failover_segment_id, "
    "deleted"
)


def vigil_rows(model, columns: str) -> set[tuple]:
    names = [c.strip() for c in columns.split(",")]
    with session_scope() as session:
        rows = session.execute(select(*(getattr(model, n) for n in names))).all()
    return {tuple(bool(v) if isinstance(v, bool) else v for v in row) for row in rows}


def masakari_rows(masakari, table: str, columns: str) -> set[tuple]:
    flags = {"enabled", "reserved", "on_maintenance"}
    names = [c.strip() for c in columns.split(",")]
    return {
        tuple(bool(v) if n in flags else v for n, v in zip(names, row, strict=True))
        for row in masakari.sql(f"SELECT {columns} FROM {table}")
    }


def counts() -> dict[str, int]:
    with session_scope() as session:
        return {
            m.__tablename__: len(session.scalars(select(m.id)).all())
            for m in (Segment, Host, Notification, VMove)
        }


def add_vmoves(masakari) -> str:
    """Rows masakari-engine would write for the COMPUTE_HOST notification: it finished, with
    one VM evacuated and one that failed (only the engine writes these, so SQL stands in)."""
    notification = masakari.sql(
        "SELECT notification_uuid FROM notifications WHERE type = 'COMPUTE_HOST'"
    )[0][0]
    masakari.sql(
        "UPDATE notifications SET status = 'finished', updated_at = '2026-11-30 10:05:00', "
        "message = 'done' WHERE notification_uuid = :n",
        "INSERT INTO vmoves (created_at, deleted, uuid, notification_uuid, instance_uuid, "
        "instance_name, source_host, dest_host, start_time, end_time, type, status, message) "
        "VALUES ('2026-11-30 10:01:00', 0, :a, :n, :i1, 'vm-1', 'compute-002', 'compute-003', "
        "'2026-11-30 10:01:00', '2026-11-30 10:02:00', 'evacuation', 'succeeded', NULL), "
        "('2026-11-30 10:01:00', 0, :b, :n, :i2, 'vm-2', 'compute-002', NULL, "
        "'2026-11-30 10:01:00', '2026-11-30 10:03:00', 'evacuation', 'failed', 'no host')",
        n=notification,
        a=str(uuid.uuid4()),
        b=str(uuid.uuid4()),
        i1=str(uuid.uuid4()),
        i2=str(uuid.uuid4()),
    )
    return notification


@pytest.fixture(params=["mariadb", "postgresql"])
def source(request, masakari):
    """The Masakari database on either engine Masakari runs on."""
    add_vmoves(masakari)
    if request.param == "mariadb":
        return masakari
    return request.getfixturevalue("masakari_pg")


def test_import_keeps_every_uuid_id_and_field(source, run_import):
    outcome = run_import(source.url)
    assert outcome.status == 0, outcome.err
    assert vigil_rows(Segment, SEGMENT_COLUMNS) == masakari_rows(
        source, "failover_segments", SEGMENT_COLUMNS
    )
    assert vigil_rows(Host, HOST_COLUMNS) == masakari_rows(source, "hosts", HOST_COLUMNS)
    columns = "notification_uuid, id, generated_time, type, status, source_host_uuid, message"
    theirs = source.sql(
        f"SELECT {columns}, payload, created_at, failover_segment_uuid FROM notifications"
    )
    with session_scope() as session:
        ours = {
            (n.notification_uuid, n.id, n.generated_time, n.type, n.status, n.source_host_uuid,
             n.message, json.dumps(n.payload, sort_keys=True), n.created_at, n.failover_segment_uuid)
            for n in session.scalars(select(Notification))
        }  # fmt: skip
    assert ours == {
        (*row[:7], json.dumps(json.loads(row[7]), sort_keys=True), *row[8:]) for row in theirs
    }
    vmove_columns = (
        "uuid, notification_uuid, instance_uuid, instance_name, source_host, dest_host, "
        "start_time, end_time, type, status, message"
    )
    assert vigil_rows(VMove, vmove_columns) == masakari_rows(source, "vmoves", vmove_columns)
    assert "imported 16 rows" in outcome.out


def test_soft_deleted_rows_are_imported_soft_deleted(masakari, run_import):
    assert run_import(masakari.url).status == 0
    with session_scope() as session:
        retired = session.scalars(select(Segment).where(Segment.name == "retired")).one()
        host = session.scalars(select(Host).where(Host.failover_segment_id == retired.uuid)).one()
    assert retired.deleted == retired.id and retired.deleted_at is not None
    assert host.deleted == host.id and host.deleted_at is not None


def test_second_import_adds_nothing(masakari, run_import):
    assert run_import(masakari.url).status == 0
    before = counts()
    again = run_import(masakari.url)
    assert again.status == 0
    assert counts() == before
    assert "imported 0 rows" in again.out
    assert "segments       importing: 0 new, 4 already in Vigil" in again.out


def test_rerun_imports_only_what_is_new(masakari, run_import):
    assert run_import(masakari.url).status == 0
    segment, host = str(uuid.uuid4()), str(uuid.uuid4())
    masakari.sql(
        "INSERT INTO failover_segments (created_at, deleted, uuid, name, service_type, "
        "recovery_method, enabled) VALUES (NOW(), 0, :s, 'rack-d', 'COMPUTE', 'auto', 1)",
        "INSERT INTO hosts (created_at, deleted, uuid, name, reserved, type, control_attributes, "
        "failover_segment_id, on_maintenance) VALUES (NOW(), 0, :h, 'compute-007', 0, "
        "'COMPUTE', '', :s, 0)",
        s=segment,
        h=host,
    )
    before = counts()
    outcome = run_import(masakari.url)
    assert outcome.status == 0
    assert "imported 2 rows" in outcome.out
    after = counts()
    assert after["failover_segments"] == before["failover_segments"] + 1
    assert after["hosts"] == before["hosts"] + 1
    with session_scope() as session:
        assert session.scalars(select(Host.name).where(Host.uuid == host)).one() == "compute-007"


def test_rerun_takes_a_newer_status_of_a_notification_vigil_has_not_touched(masakari, run_import):
    assert run_import(masakari.url).status == 0
    notification = add_vmoves(masakari)
    outcome = run_import(masakari.url)
    assert outcome.status == 0
    assert "1 with a newer status" in outcome.out
    with session_scope() as session:
        row = session.scalars(
            select(Notification).where(Notification.notification_uuid == notification)
        ).one()
    assert (row.status, row.message) == ("finished", "done")


def test_a_row_vigil_has_used_an_id_of_gets_a_fresh_id(masakari, run_import):
    """Vigil's own segment took id 1: Masakari's segment 1 gets a new id, everything else holds."""
    with session_scope() as session:
        session.add(
            Segment(
                id=4, uuid=str(uuid.uuid4()), name="vigil-own", service_type="COMPUTE",
                recovery_method="auto", created_at=utcnow().replace(microsecond=0), deleted=0,
            )
        )  # fmt: skip
    assert run_import(masakari.url).status == 0
    with session_scope() as session:
        retired = session.scalars(select(Segment).where(Segment.name == "retired")).one()
        ids = session.scalars(select(Segment.id).order_by(Segment.id)).all()
        hosts = session.scalars(select(Host).where(Host.failover_segment_id == retired.uuid)).all()
    assert retired.id > 4 and retired.deleted == retired.id
    assert ids[:4] == [1, 2, 3, 4] and len(hosts) == 1
    with session_scope() as session:
        fresh = Segment(
            uuid=str(uuid.uuid4()), name="after", service_type="COMPUTE", recovery_method="auto",
            created_at=retired.created_at, deleted=0,
        )  # fmt: skip
        session.add(fresh)
        session.flush()
        assert fresh.id > retired.id


# ------------------------------------------------------------------------- conflicts


@pytest.mark.parametrize("model", [Segment, Host])
def test_a_name_held_by_another_uuid_stops_the_import_and_writes_nothing(
    masakari, run_import, model
):
    name = "rack-a" if model is Segment else "compute-002"
    with session_scope() as session:
        segment = Segment(
            uuid=str(uuid.uuid4()),
            name="rack-a" if model is Segment else "mine",
            service_type="COMPUTE",
            recovery_method="auto",
            created_at=utcnow().replace(microsecond=0),
            deleted=0,
        )
        session.add(segment)
        session.flush()
        if model is Host:
            session.add(
                Host(
                    uuid=str(uuid.uuid4()), name=name, type="COMPUTE", control_attributes="",
                    failover_segment_id=segment.uuid, created_at=segment.created_at, deleted=0,
                )
            )  # fmt: skip
    before = counts()
    outcome = run_import(masakari.url)
    assert outcome.status == 1
    kind = "segment" if model is Segment else "host"
    assert outcome.err.count("\n") == 1
    assert f"conflict: {kind} name '{name}' is Masakari's " in outcome.err
    assert "nothing was imported" in outcome.err and "Traceback" not in outcome.err
    assert counts() == before

    dry = run_import(masakari.url, "--dry-run")
    assert dry.status == 1
    assert f"  conflict: {kind} name '{name}' is Masakari's" in dry.out
    assert "would import: 4 new" in dry.out or "would import: 3 new" in dry.out
    assert counts() == before


def test_dry_run_prints_what_would_be_imported_and_writes_nothing(masakari, run_import):
    outcome = run_import(masakari.url, "--dry-run")
    assert outcome.status == 0, outcome.err
    assert "Masakari schema 13adff5efb9a" in outcome.out
    assert "segments       would import: 4 new, 1 of them soft-deleted, 0 already in Vigil" in (
        outcome.out
    )
    assert "hosts          would import: 7 new, 1 of them soft-deleted" in outcome.out
    assert "notifications  would import: 3 new" in outcome.out
    assert "3 notifications are new/running/error" in outcome.out
    assert sum(counts().values()) == 0


# ------------------------------------------------------------------------- bad input


def refused(outcome, text: str) -> None:
    assert outcome.status == 1
    assert text in outcome.err, outcome.err
    assert outcome.err.startswith("vigil db import-masakari: ") and outcome.err.count("\n") == 1
    assert sum(counts().values()) == 0


def test_unreachable_database_is_one_clear_error(run_import):
    refused(
        run_import(f"mysql://masakari:secret@127.0.0.1:{free_port()}/masakari"),
        "cannot reach the Masakari database at mysql://masakari:***@127.0.0.1:",
    )


def test_a_database_that_is_not_masakaris_is_refused(run_import, mariadb):
    refused(
        run_import(mariadb.create_database("empty", fresh=True)),
        "is not a Masakari database: no masakari_alembic_version table",
    )


def test_vigils_own_database_as_source_is_refused(run_import, db):
    refused(run_import(db), "is not a Masakari database")


def test_an_unknown_schema_version_names_the_known_ones(masakari, run_import):
    masakari.sql("UPDATE masakari_alembic_version SET version_num = '0123456789ab'")
    refused(
        run_import(masakari.url),
        "Masakari schema version 0123456789ab is not one Vigil knows; known: 8f848eb45d03",
    )
    assert "13adff5efb9a (adds notifications.failover_segment_uuid" in run_import(masakari.url).err


def test_a_host_whose_segment_is_missing_is_refused(masakari, run_import):
    masakari.sql(
        "SET FOREIGN_KEY_CHECKS = 0",
        "INSERT INTO hosts (created_at, deleted, uuid, name, reserved, type, control_attributes, "
        "failover_segment_id, on_maintenance) VALUES (NOW(), 0, :h, 'orphan', 0, 'COMPUTE', '', "
        "'0b0b0b0b-0000-4000-8000-000000000000', 0)",
        h=str(uuid.uuid4()),
    )
    refused(
        run_import(masakari.url),
        "host 'orphan' (",
    )
    assert "its segment 0b0b0b0b-0000-4000-8000-000000000000 is in neither database" in (
        run_import(masakari.url).err
    )


def test_an_unknown_recovery_method_is_refused(masakari, run_import):
    """A forked or hand-edited Masakari whose enum allows another method."""
    masakari.sql(
        "ALTER TABLE failover_segments MODIFY recovery_method VARCHAR(255) NOT NULL",
        "UPDATE failover_segments SET recovery_method = 'evacuate_all' WHERE name = 'rack-c'",
    )
    refused(
        run_import(masakari.url),
        "segment 'rack-c' (",
    )
    err = run_import(masakari.url).err
    assert "unknown recovery method 'evacuate_all' (Vigil knows auto, reserved_host" in err


def test_a_payload_that_is_not_json_is_refused(masakari, run_import):
    masakari.sql("UPDATE notifications SET payload = 'not json' WHERE type = 'VM'")
    refused(run_import(masakari.url), "payload is not a JSON object")


def test_on_a_terminal_the_import_shows_a_progress_bar_per_table(masakari, db):
    """The command as a user types it, its stderr on a pseudo-terminal."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    vigil = Path(sys.executable).with_name("vigil")
    controller, terminal = pty.openpty()
    result = subprocess.run(
        [str(vigil), "db", "import-masakari", "--from", masakari.url, "--database-url", db],
        stdout=subprocess.PIPE,
        stderr=terminal,
        timeout=120,
        env=dict(os.environ, COLUMNS="100", TERM="xterm"),
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert result.returncode == 0
    text = shown.decode(errors="replace")
    for table, rows in (("segments", 4), ("hosts", 7), ("notifications", 3)):
        assert re.search(rf"{table}.*{rows}/{rows}", text), text
    assert "imported 14 rows" in result.stdout.decode()


def test_a_vigil_database_not_at_the_newest_schema_is_refused(masakari, run_import, postgres):
    empty = postgres.create_database("vigil_never_upgraded")
    outcome = run_import(masakari.url, "--database-url", empty)
    assert outcome.status == 1
    assert "Vigil's database is not at schema" in outcome.err and "vigil db upgrade" in outcome.err


@pytest.mark.parametrize("revision", ["8f848eb45d03", "8bdf5929c5a6"])
def test_older_masakari_schemas_are_imported(masakari, run_import, revision):
    """What Masakari's own migrations add after each revision is taken away again: before
    13adff5efb9a notifications have no segment uuid (Vigil takes it from the host), before
    8bdf5929c5a6 there is no vmoves table."""
    statements = [
        "ALTER TABLE notifications DROP COLUMN failover_segment_uuid, DROP COLUMN message",
        f"UPDATE masakari_alembic_version SET version_num = '{revision}'",
    ]
    if revision == "8f848eb45d03":
        statements.append("DROP TABLE vmoves")
    masakari.sql(*statements)
    outcome = run_import(masakari.url)
    assert outcome.status == 0, outcome.err
    assert f"Masakari schema {revision}" in outcome.out
    with session_scope() as session:
        rows = session.execute(
            select(Notification.failover_segment_uuid, Host.failover_segment_id).join(
                Host, Host.uuid == Notification.source_host_uuid
            )
        ).all()
    assert len(rows) == 3 and all(mine == hosts for mine, hosts in rows)
