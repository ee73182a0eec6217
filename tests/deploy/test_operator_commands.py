"""Configuration mistakes are caught at once, and no command shows a password (issues 13, 14).

Commands run as a user runs them (``python -m vigil.cli`` in a child process with its own
environment) where a traceback or an exit status is the point; in-process through ``main``
otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from shared.preflight import problems
from vigil.cli import main
from vigil.wiring import ROOT, image_command

SECRET = "s3cret-Passw0rd"
BAD_STEP = '{"pre": ["disable_compute_servce_task"], "main": [], "post": []}'
FLOW = "VIGIL_TASKFLOW_DRIVER_RECOVERY_FLOWS__HOST_AUTO_FAILURE_RECOVERY_TASKS"


def _with_password(url: str) -> str:
    """The test database's URL with a password (the embedded server trusts loopback, so any
    password connects, and the URL still carries one to leak)."""
    return make_url(url).set(password=SECRET).render_as_string(hide_password=False)


def _vigil(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def test_vigil_version_names_the_installed_release():
    done = _vigil("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == "vigil 0.1.0"


def test_db_upgrade_prints_the_database_url_with_its_password_hidden(database_url, capsys):
    assert main(["db", "upgrade", "--database-url", _with_password(database_url)]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert (
        f"database at head: postgresql+pg8000://postgres:***@127.0.0.1:{make_url(database_url).port}/vigil"
        in out
    )


def test_an_unreachable_database_is_one_line_naming_it_without_the_password():
    url = f"postgresql://vigil:{SECRET}@127.0.0.1:1/vigil"
    done = _vigil("dead-letters", env={"VIGIL_DATABASE_URL": url})
    assert done.returncode == 2
    assert SECRET not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(
        "vigil dead-letters: cannot use the database postgresql://vigil:***@127.0.0.1:1/vigil "
        "(from VIGIL_DATABASE_URL): "
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"VIGIL_HOST__MONITORING_SAMPLES": "abc"},
            "vigil: VIGIL_HOST__MONITORING_SAMPLES: Input should be a valid integer, unable to "
            "parse string as an integer (got 'abc')",
        ),
        (
            {FLOW: '{"pre": ["disable_compute_service_task"'},
            f"vigil: {FLOW}: not valid JSON (Expecting ',' delimiter: line 1 column 40 (char 39))",
        ),
        (
            {"VIGIL_DATABASE_URL": f"mysql://vigil:{SECRET}@db/vigil"},
            "vigil: VIGIL_DATABASE_URL: mysql:// is not supported (mysql://vigil:***@db/vigil); "
            "Vigil stores its data in PostgreSQL: postgresql://user:password@host/vigil",
        ),
        (
            {FLOW: BAD_STEP},
            f"vigil: {FLOW}: pre step 'disable_compute_servce_task': Recovery task "
            "'disable_compute_servce_task' is not registered in entry point group "
            "'vigil.recovery_tasks'",
        ),
    ],
)
def test_a_bad_setting_stops_a_command_with_one_line_naming_the_variable(env, expected):
    done = _vigil("dead-letters", env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and SECRET not in done.stderr
    assert done.stderr.splitlines() == [
        expected,
        "vigil: fix the settings above (`vigil settings --check`)",
    ]


def test_settings_check_prints_every_problem_and_fails():
    done = _vigil(
        "settings",
        "--check",
        env={
            "VIGIL_HOST__MONITORING_SAMPLES": "abc",
            "VIGIL_AUTH_STRATEGY": "ldap",
            FLOW: BAD_STEP,
            "VIGIL_DATABASE_URL": "mysql://db/vigil",
        },
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "VIGIL_AUTH_STRATEGY",
        "VIGIL_HOST__MONITORING_SAMPLES",
        "VIGIL_DATABASE_URL",
        FLOW,
        "4 settings problem(s)",
    ]


def test_settings_check_passes_good_settings_and_tries_the_database(database_url):
    good = _vigil("settings", "--check", env={"VIGIL_DATABASE_URL": _with_password(database_url)})
    assert (good.returncode, good.stdout.strip(), good.stderr) == (0, "settings OK", "")
    gone = _vigil(
        "settings", "--check", env={"VIGIL_DATABASE_URL": f"postgresql://v:{SECRET}@127.0.0.1:1/v"}
    )
    assert gone.returncode == 1
    assert gone.stderr.splitlines()[0].startswith(
        "VIGIL_DATABASE_URL: postgresql://v:***@127.0.0.1:1/v cannot be reached: "
    )
    assert SECRET not in gone.stderr


def test_settings_current_shows_the_database_url_with_the_password_hidden(database_url):
    done = _vigil("settings", "--current", env={"VIGIL_DATABASE_URL": _with_password(database_url)})
    assert done.returncode == 0 and SECRET not in done.stdout
    [line] = [x for x in done.stdout.splitlines() if x.startswith("VIGIL_DATABASE_URL=")]
    assert line.startswith("VIGIL_DATABASE_URL=postgresql+pg8000://postgres:***@127.0.0.1:")


def test_problems_are_empty_for_the_defaults():
    assert problems({}) == []


@pytest.mark.parametrize("function", ["api", "recover"])
def test_a_function_with_a_misspelled_step_name_refuses_to_start_and_says_why(function, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        {
            "FUNCTION": function,
            "SIGNATURE_TYPE": "http" if function == "api" else "cloudevent",
            "PORT": "0",
            "HOST": "127.0.0.1",
            "THREADS": "1",
            FLOW: BAD_STEP,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    done = subprocess.run(
        image_command(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    log = done.stdout + done.stderr
    assert done.returncode != 0
    assert (
        f"{function}: {FLOW}: pre step 'disable_compute_servce_task': Recovery task "
        "'disable_compute_servce_task' is not registered" in log
    )
    assert f"{function}: not started: 1 settings problem(s) above" in log
    assert "Traceback" not in log


def test_a_command_without_a_database_url_uses_the_running_vigil_devs_and_says_so(tmp_path):
    home = tmp_path / "home"
    env = {"VIGIL_HOME": str(home)}
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    dev = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", "dev", "--api-port", "0", "--hosts", "1"],
        env={**base, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    state = home / "dev.json"
    try:
        deadline = time.monotonic() + 180
        while not state.exists():
            assert dev.poll() is None, dev.stderr.read()
            assert time.monotonic() < deadline, "vigil dev did not start"
            time.sleep(0.5)
        url = json.loads(state.read_text())["database_url"]
        done = _vigil("dead-letters", env=env)
        assert (done.returncode, done.stdout.strip()) == (0, "no dead letters")
        assert done.stderr.strip() == (
            f"using the database of the running `vigil dev` (pid {dev.pid}): {url}"
        )
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        dev.wait(60)
    assert not state.exists()  # a stopped `vigil dev` is no longer pointed at
