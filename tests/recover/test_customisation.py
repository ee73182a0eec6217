"""Operators add steps through the ``vigil.recovery_tasks`` entry-point group (recovery.md §12)."""

from __future__ import annotations

import json
import sys

import pytest

from tests.recover.scenario import details, make_segment, notify, wait_settled

TASK_MODULE = """
from shared.recovery.steps import Task


class AlertOperatorTask(Task):
    step_name = "AlertOperatorTask"

    def execute(self, host_name, process_name):
        self.report(f"Paged the operator about {process_name} on {host_name}", 1.0)
        return {"paged": True}
"""


@pytest.fixture
def operator_package(tmp_path, monkeypatch):
    """An installed distribution declaring one extra step, as an operator's package would."""
    (tmp_path / "vigil_ops_alert.py").write_text(TASK_MODULE)
    dist = tmp_path / "vigil_ops_alert-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vigil-ops-alert\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[vigil.recovery_tasks]\nalert_operator_task = vigil_ops_alert:AlertOperatorTask\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("vigil_ops_alert", None)


def flows(post: list[str]) -> dict[str, str]:
    tasks = {
        "pre": ["disable_compute_node_task"],
        "main": ["confirm_compute_node_disabled_task"],
        "post": post,
    }
    return {
        "VIGIL_TASKFLOW_DRIVER_RECOVERY_FLOWS__PROCESS_FAILURE_RECOVERY_TASKS": json.dumps(tasks)
    }


def test_an_operator_step_from_an_entry_point_runs_in_the_flow(cloud, operator_package):
    cloud(env=flows(["alert_operator_task"]))
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    uuid = notify("compute-001", "PROCESS", {"event": "STOPPED", "process_name": "nova-compute"})
    assert wait_settled(uuid).status == "finished"
    flow = details(uuid)
    assert [d["name"] for d in flow] == [
        "DisableComputeNodeTask",
        "ConfirmComputeNodeDisabledTask",
        "AlertOperatorTask",
    ]
    assert (
        flow[-1]["progress_details"][0]["message"]
        == "Paged the operator about nova-compute on compute-001"
    )


def test_a_step_name_with_no_entry_point_ends_error_naming_it(cloud):
    cloud(env=flows(["no_such_task"]))
    make_segment("auto", [f"compute-00{i}" for i in range(6)])
    uuid = notify("compute-001", "PROCESS", {"event": "STOPPED", "process_name": "nova-compute"})
    row = wait_settled(uuid)
    assert row.status == "error"
    assert "no_such_task" in row.message and "vigil.recovery_tasks" in row.message
