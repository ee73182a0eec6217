"""The ``purge`` function (CloudEvent tick over HTTP) and ``vigil db purge`` do the same thing."""

from __future__ import annotations

import datetime as dt
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from sqlalchemy import text

from shared.events import PING_TYPE
from shared.locks import single_run
from shared.models import HealthSample, Host, HostMonitorState, Notification, Segment, VMove
from tests.servers import serve_function

VIGIL = Path(sys.executable).with_name("vigil")


@pytest.fixture(scope="module")
def function(database_url):
    served = serve_function("purge", signature="cloudevent")
    yield served
    served.stop()


def tick(url: str, mode: str) -> requests.Response:
    """A PingSource tick as Knative delivers it."""
    event = CloudEvent(
        {
            "type": PING_TYPE,
            "source": "/apis/v1/namespaces/vigil/pingsources/vigil-purge",
            "datacontenttype": "application/json",
        },
        {"tick": "purge"},
    )
    headers, body = (to_binary if mode == "binary" else to_structured)(event)
    return requests.post(url, headers=headers, data=body, timeout=60)


def vigil_purge(*args: str, terminal: bool = False) -> subprocess.CompletedProcess:
    command = [str(VIGIL), "db", "purge", *args]
    if not terminal:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=60, env=os.environ.copy()
        )
    # Read the terminal while the command runs: an unread pty fills and blocks its writes.
    leader, follower = pty.openpty()
    proc = subprocess.Popen(command, stdout=follower, stderr=subprocess.PIPE, text=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    stderr = proc.stderr.read()
    proc.wait(60)
    return subprocess.CompletedProcess(command, proc.returncode, b"".join(chunks).decode(), stderr)


def dataset(seed) -> dict[str, tuple]:
    """Rows of every kind, half of them qualifying; label → (model, column, value)."""
    seg_gone = seed.segment("seg-gone", deleted_days=45)
    seg_live = seed.segment("seg-live")
    rows = {
        "finished-old": (Notification, "notification_uuid", seed.notification("finished", 31)),
        "failed-old": (Notification, "notification_uuid", seed.notification("failed", 50)),
        "ignored-old": (Notification, "notification_uuid", seed.notification("ignored", 60)),
        "running-old": (Notification, "notification_uuid", seed.notification("running", 60)),
        "finished-recent": (Notification, "notification_uuid", seed.notification("finished", 3)),
        "host-gone": (Host, "uuid", seed.host("gone", seg_gone, deleted_days=45)),
        "host-recently-deleted": (Host, "uuid", seed.host("recent", seg_live, deleted_days=2)),
        "host-live": (Host, "uuid", seed.host("live", seg_live)),
        "segment-gone": (Segment, "uuid", seg_gone),
        "segment-live": (Segment, "uuid", seg_live),
    }
    seed.health_sample("live", dt.timedelta(days=10))
    return rows


def survivors(seed, rows: dict[str, tuple]) -> set[str]:
    return {
        label
        for label, (model, column, value) in rows.items()
        if value in seed.uuids(model, getattr(model, column))
    }


EXPECTED_SURVIVORS = {
    "running-old",
    "finished-recent",
    "host-recently-deleted",
    "host-live",
    "segment-live",
}
EXPECTED_COUNTS = {
    "notifications": 3,
    "vmoves": 6,
    "recovery_progress": 6,
    "recovery_attempts": 3,
    "hosts": 1,
    "host_monitor_states": 1,
    "failover_segments": 1,
    "health_samples": 1,
}


def printed_counts(stdout: str) -> dict[str, int]:
    counts = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in EXPECTED_COUNTS and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_daily_tick_purges_what_qualifies_and_logs_counts_per_table(seed, function, caplog, mode):
    rows = dataset(seed)
    caplog.set_level("INFO", logger="vigil.purge")

    response = tick(function.url, mode)

    assert response.status_code == 200
    assert survivors(seed, rows) == EXPECTED_SURVIVORS
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "vigil.purge")
    for table, count in EXPECTED_COUNTS.items():
        assert f"{table}={count}" in logged


def test_command_purges_the_same_rows_and_prints_counts_per_table(seed):
    rows = dataset(seed)

    result = vigil_purge()

    assert result.returncode == 0, result.stderr
    assert survivors(seed, rows) == EXPECTED_SURVIVORS
    assert printed_counts(result.stdout) == EXPECTED_COUNTS
    assert "purged 22 rows" in result.stdout
    assert "\x1b[" not in result.stdout  # no progress bar when stdout is not a terminal


@pytest.mark.parametrize("entry", ["command", "function"])
def test_function_and_command_spend_max_rows_the_same_way(seed, function, purge_env, entry):
    rows = dataset(seed)

    if entry == "command":
        result = vigil_purge("--age_in_days", "30", "--max_rows", "4")  # Masakari's spellings
        assert result.returncode == 0, result.stderr
        assert "stopped at max_rows=4" in result.stdout
    else:
        purge_env(age_in_days=30, max_rows=4)
        assert tick(function.url, "binary").status_code == 200

    # Three notifications and one host spend the budget; the segment waits for the next run.
    assert survivors(seed, rows) == EXPECTED_SURVIVORS | {"segment-gone"}


def test_command_on_a_clean_database_says_there_was_nothing_to_purge(seed):
    result = vigil_purge("--age-in-days", "30")

    assert result.returncode == 0, result.stderr
    assert "nothing to purge" in result.stdout


def test_command_shows_a_progress_bar_only_on_a_terminal_and_still_reports(seed):
    rows = dataset(seed)

    result = vigil_purge(terminal=True)

    assert result.returncode == 0, result.stderr
    assert survivors(seed, rows) == EXPECTED_SURVIVORS
    assert "purging" in result.stdout  # the bar's label, drawn only on a terminal
    assert "purged 22 rows" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--age-in-days", "-1"], "Must supply a non-negative value for age."),
        (["--age_in_days", "99999999"], "Maximal age is count of days since epoch."),
        (["--max-rows", "0"], "Must supply value greater than 0 for max_rows."),
        (["--max_rows", "lots"], "Invalid input received: max_rows must be an integer"),
    ],
)
def test_bad_arguments_exit_1_with_masakaris_message_and_touch_nothing(seed, args, message):
    dataset(seed)
    before = seed.counts()

    result = vigil_purge(*args)

    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert seed.counts() == before


def test_second_run_while_one_is_in_progress_does_nothing_and_succeeds(seed, function):
    rows = dataset(seed)
    before = seed.counts()

    with single_run("purge") as mine:
        assert mine
        response = tick(function.url, "structured")
        command = vigil_purge()
        assert seed.counts() == before

    assert response.status_code == 200
    assert command.returncode == 0 and "another purge run is in progress" in command.stdout
    assert tick(function.url, "binary").status_code == 200
    assert survivors(seed, rows) == EXPECTED_SURVIVORS


def test_health_samples_and_monitor_state_are_gone_after_a_tick(seed, function):
    dataset(seed)

    tick(function.url, "binary")

    assert seed.count(HealthSample) == 0
    assert seed.uuids(HostMonitorState, HostMonitorState.host_name) == {"recent", "live"}
    assert seed.count(VMove) == 4


def test_command_against_an_unreachable_database_fails_plainly(seed, monkeypatch):
    monkeypatch.setenv("VIGIL_DATABASE_URL", "postgresql://vigil@127.0.0.1:1/vigil")

    result = vigil_purge()

    assert result.returncode == 1
    assert result.stderr.startswith("purge failed:")
    assert "Traceback" not in result.stderr


def test_tick_during_a_running_command_purge_answers_2xx_and_leaves_the_work_to_it(
    seed, function, caplog
):
    with seed.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO health_samples (host_name, sampled_at, verdict) "
                "SELECT 'compute-1', now() AT TIME ZONE 'utc' - interval '30 days', 'up' "
                "FROM generate_series(1, 6000)"
            )
        )
    caplog.set_level("INFO", logger="vigil.purge")
    env = dict(os.environ, VIGIL_PURGE__PURGE_BATCH_SIZE="10")
    command = subprocess.Popen(
        [str(VIGIL), "db", "purge"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with seed.engine.connect() as conn:
            while (
                command.poll() is None
                and not conn.execute(
                    text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
                ).scalar_one()
            ):
                conn.rollback()
                time.sleep(0.02)
        assert command.poll() is None, "the command finished before the tick could overlap it"

        response = tick(function.url, "binary")
    finally:
        out, err = command.communicate(timeout=120)

    assert response.status_code == 200
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "vigil.purge")
    assert "another purge run is in progress" in logged
    assert "removed" not in logged  # the tick did no work
    assert command.returncode == 0, err
    assert printed_counts(out)["health_samples"] == 6000
    assert seed.count(HealthSample) == 0
