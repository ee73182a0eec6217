"""Every setting is documented, and the README's table is what `vigil settings` prints."""

import subprocess
import sys
from pathlib import Path

from shared.settings import Settings, reference
from vigil.settings_cli import BEGIN, END, markdown_table

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_has_a_description():
    assert [variable for variable, _, description in reference() if not description] == []


def test_readme_configuration_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index(BEGIN) + len(BEGIN) : readme.index(END)].strip()
    assert table == markdown_table(), "run `vigil settings` and paste its output into README.md"


def test_nested_settings_are_read_from_double_underscore_variables(monkeypatch):
    monkeypatch.setenv("VIGIL_HOST_FAILURE__EVACUATE_ALL_INSTANCES", "false")
    monkeypatch.setenv(
        "VIGIL_TASKFLOW_DRIVER_RECOVERY_FLOWS__PROCESS_FAILURE_RECOVERY_TASKS",
        '{"pre": ["no_op"], "main": [], "post": []}',
    )
    settings = Settings()
    assert settings.host_failure.evacuate_all_instances is False
    assert settings.taskflow_driver_recovery_flows.process_failure_recovery_tasks["pre"] == [
        "no_op"
    ]


def test_vigil_settings_current_masks_secrets(monkeypatch):
    env = {
        "VIGIL_FENCING__REDFISH_PASSWORD": "s3cret",
        "VIGIL_HOST__MONITORING_SAMPLES": "3",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-m", "vigil.cli", "settings", "--current"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert "VIGIL_HOST__MONITORING_SAMPLES=3" in out.splitlines()
    assert "VIGIL_FENCING__REDFISH_PASSWORD=***" in out.splitlines()
    assert "s3cret" not in out
