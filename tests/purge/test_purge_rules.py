"""What qualifies for purging (purge.md §1.2, §2-4), on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import text

from shared.db import get_engine
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
from shared.purge import PurgeArgumentError, check_arguments, purge


def test_old_finished_failed_and_ignored_notifications_go_with_their_vmoves_progress_and_attempts(
    seed,
):
    for status in ("finished", "failed", "ignored"):
        seed.notification(status, 31, children=3)
    kept = seed.notification("finished", 29, children=3)

    report = purge(30, -1)

    assert seed.uuids(Notification, Notification.notification_uuid) == {kept}
    for model in (VMove, RecoveryProgress, RecoveryAttempt):
        assert seed.uuids(model, model.notification_uuid) == {kept}
    assert report.removed["notifications"] == 3
    assert report.removed["vmoves"] == 9
    assert report.removed["recovery_progress"] == 9
    assert report.removed["recovery_attempts"] == 3


@pytest.mark.parametrize("status", ["new", "running", "error"])
def test_notification_in_progress_is_never_purged_however_old(seed, status):
    n_uuid = seed.notification(status, 3650)

    report = purge(0, -1)

    assert seed.uuids(Notification, Notification.notification_uuid) == {n_uuid}
    assert (
        seed.count(VMove) == 2
        and seed.count(RecoveryProgress) == 2
        and seed.count(RecoveryAttempt) == 1
    )
    assert report.nothing_to_do


def test_recent_finished_notification_is_kept(seed):
    n_uuid = seed.notification("finished", 29)

    purge(30, -1)

    assert seed.uuids(Notification, Notification.notification_uuid) == {n_uuid}
    assert seed.count(VMove) == 2


def test_notification_with_null_updated_at_never_qualifies(seed):
    n_uuid = seed.notification("finished", None)

    report = purge(0, -1)

    assert seed.uuids(Notification, Notification.notification_uuid) == {n_uuid}
    assert report.removed["notifications"] == 0


def test_soft_deleted_host_goes_with_its_monitor_state_and_live_or_recent_hosts_stay(seed):
    segment = seed.segment("seg")
    gone = seed.host("compute-1", segment, deleted_days=31)
    recent = seed.host("compute-2", segment, deleted_days=5)
    live = seed.host("compute-3", segment)
    # compute-4 was deleted long ago and re-added: the live row owns the monitor state.
    seed.host("compute-4", segment, deleted_days=60)
    readded = seed.host("compute-4", segment)

    report = purge(30, -1)

    assert seed.uuids(Host) == {recent, live, readded}
    assert seed.uuids(HostMonitorState, HostMonitorState.host_name) == {
        "compute-2",
        "compute-3",
        "compute-4",
    }
    assert report.removed["hosts"] == 2
    assert report.removed["host_monitor_states"] == 1
    assert gone not in seed.uuids(Host)


def test_soft_deleted_segment_goes_after_its_hosts_and_live_or_recent_segments_stay(seed):
    old = seed.segment("old", deleted_days=40)
    seed.host("h-old", old, deleted_days=40)
    still_referenced = seed.segment("referenced", deleted_days=40)
    seed.host("h-recent", still_referenced, deleted_days=2)
    recent = seed.segment("recent", deleted_days=2)
    live = seed.segment("live")

    report = purge(30, -1)

    assert seed.uuids(Segment) == {still_referenced, recent, live}
    assert report.removed["failover_segments"] == 1
    assert report.removed["hosts"] == 1


def test_only_old_soft_deleted_vmoves_go_on_their_own(seed):
    running = seed.notification("running", 100, children=0)
    old_deleted = seed.vmove(running, deleted_days=31)
    recent_deleted = seed.vmove(running, deleted_days=1)
    live = seed.vmove(running, deleted_days=None)

    report = purge(30, -1)

    assert seed.uuids(VMove) == {recent_deleted, live}
    assert old_deleted not in seed.uuids(VMove)
    assert report.removed["vmoves"] == 1


def test_health_samples_follow_their_own_retention_not_age_in_days(seed):
    seed.health_sample("compute-1", dt.timedelta(days=8))
    seed.health_sample("compute-1", dt.timedelta(days=6))

    report = purge(30, -1)

    assert seed.count(HealthSample) == 1
    assert report.removed["health_samples"] == 1


def test_health_sample_retention_never_drops_what_the_monitor_reads_back(seed, purge_env):
    purge_env(health_sample_retention=60)  # shorter than the 1 h flap window
    seed.health_sample("compute-1", dt.timedelta(minutes=30))
    seed.health_sample("compute-1", dt.timedelta(hours=3))

    purge(30, -1)

    assert seed.count(HealthSample) == 1


def test_max_rows_is_one_budget_across_tables_and_children_do_not_count(seed):
    segment = seed.segment("seg", deleted_days=40)
    for _ in range(3):
        seed.notification("finished", 40, children=5)
    hosts = [seed.host(f"h{i}", segment, deleted_days=40) for i in range(2)]

    first = purge(30, 4)

    assert first.removed["notifications"] == 3
    assert first.removed["vmoves"] == 15 and first.removed["recovery_progress"] == 15
    assert first.removed["hosts"] == 1
    assert first.removed["failover_segments"] == 0
    assert first.stopped_by == "max_rows"
    assert seed.count(Notification) == 0 and seed.count(VMove) == 0  # nothing half-purged
    assert len(seed.uuids(Host) & set(hosts)) == 1

    second = purge(30, -1)

    assert second.removed["hosts"] == 1 and second.removed["failover_segments"] == 1
    assert second.stopped_by is None
    assert seed.count(Segment) == 0


def test_budget_is_honoured_across_many_small_batches(seed, purge_env):
    purge_env(purge_batch_size=2)
    for _ in range(7):
        seed.notification("finished", 40, children=1)

    report = purge(30, 5)

    assert report.removed["notifications"] == 5
    assert seed.count(Notification) == 2 and seed.count(VMove) == 2


def test_budget_spent_exactly_on_the_last_row_is_not_reported_as_cut_short(seed):
    seed.notification("finished", 40)

    report = purge(30, 1)

    assert report.removed["notifications"] == 1
    assert report.stopped_by is None


def test_empty_or_clean_database_is_a_no_op_that_says_so(seed):
    assert purge(30, -1).summary().startswith("nothing to purge")

    seed.notification("finished", 40)
    assert purge(30, -1).total == 6  # the notification, 2 vmoves, 2 progress rows, 1 attempt
    again = purge(30, -1)
    assert again.nothing_to_do and again.summary().startswith("nothing to purge")


def test_notification_locked_by_another_transaction_is_skipped_without_waiting(seed):
    locked = seed.notification("finished", 40)
    other = seed.notification("finished", 40)
    with get_engine().connect() as api:
        api.execute(
            text("SELECT id FROM notifications WHERE notification_uuid = :u FOR UPDATE"),
            {"u": locked},
        )
        started = time.monotonic()
        report = purge(30, -1)
        waited = time.monotonic() - started
        api.rollback()

    assert seed.uuids(Notification, Notification.notification_uuid) == {locked}
    assert report.removed["notifications"] == 1 and other not in seed.uuids(
        Notification, Notification.notification_uuid
    )
    assert waited < 5  # generous: SKIP LOCKED never waits for the lock


def test_batch_behind_a_locked_child_times_out_is_skipped_and_retried_next_run(seed, purge_env):
    purge_env(purge_batch_size=1, lock_timeout_ms=100)
    blocked = seed.notification("finished", 40)
    free = seed.notification("finished", 40)
    with get_engine().connect() as api:
        api.execute(
            text("SELECT id FROM vmoves WHERE notification_uuid = :u FOR UPDATE"), {"u": blocked}
        )
        report = purge(30, -1)
        api.rollback()

    assert report.skipped_batches == 1
    assert seed.uuids(Notification, Notification.notification_uuid) == {blocked}
    assert seed.uuids(VMove, VMove.notification_uuid) == {
        blocked
    }  # the batch left nothing half-done
    assert free not in seed.uuids(Notification, Notification.notification_uuid)
    assert "skipped" in report.summary()

    assert purge(30, -1).removed["notifications"] == 1
    assert seed.count(Notification) == 0


def test_run_stops_at_its_time_limit_and_the_next_run_continues(seed):
    seed.notification("finished", 40)

    stopped = purge(30, -1, time_limit=0)

    assert stopped.stopped_by == "time_limit" and seed.count(Notification) == 1
    assert purge(30, -1, time_limit=60).removed["notifications"] == 1


@pytest.mark.parametrize(
    ("age", "max_rows", "message"),
    [
        ("-1", "-1", "Must supply a non-negative value for age."),
        ("99999999", "-1", "Maximal age is count of days since epoch."),
        ("30", "0", "Must supply value greater than 0 for max_rows."),
        ("30", "-2", "Invalid input received: max_rows must be >= -1"),
        ("30", str(2**31), "Invalid input received: max_rows must be <= 2147483647"),
        ("30", "ten", "Invalid input received: max_rows must be an integer"),
        ("1.5", "-1", "Invalid value for age, 1.5"),
    ],
)
def test_arguments_masakari_refuses_are_refused_with_its_message(age, max_rows, message):
    with pytest.raises(PurgeArgumentError) as refused:
        check_arguments(age, max_rows)
    assert str(refused.value) == message


def test_masakari_defaults_and_limits_are_accepted():
    assert check_arguments("30", "-1") == (30, -1)
    assert check_arguments(0, 2**31 - 1) == (0, 2**31 - 1)
