"""``vigil settings --from-masakari-conf``: a masakari.conf becomes the VIGIL_* environment."""

from __future__ import annotations

import shlex

import pytest
import yaml

from shared.settings import Settings, get_settings
from vigil.cli import main

# Every option recovery.md §10 says Vigil keeps, with a value other than the default.
KEPT = """
[DEFAULT]
auth_strategy = noauth2
duplicate_notification_detection_interval = 300
wait_period_after_service_update = 200
wait_period_after_evacuation = 120
wait_period_after_power_off = 190
wait_period_after_power_on = 70
verify_interval = 2
host_failure_recovery_threads = 8
process_unfinished_notifications_interval = 130
retry_notification_new_status_interval = 70
check_expired_notifications_interval = 610
notifications_expired_interval = 86000
osapi_max_limit = 500

[host_failure]
evacuate_all_instances = False
ha_enabled_instance_metadata_key = HA
ignore_instances_in_error_state = yes
add_reserved_host_to_aggregate = True
service_disable_reason = Host failed (site policy).

[instance_failure]
process_all_instances = true
ha_enabled_instance_metadata_key = VM_HA

[process_failure]
service_disable_reason = Process failed (site policy).

[taskflow_driver_recovery_flows]
host_auto_failure_recovery_tasks = pre:['disable_compute_service_task', 'site_task'],main:['prepare_HA_enabled_instances_task'],post:['evacuate_instances_task']
host_rh_failure_recovery_tasks = pre:['disable_compute_service_task'],main:['prepare_HA_enabled_instances_task', 'evacuate_instances_task'],post:[]
instance_failure_recovery_tasks = pre:['stop_instance_task'],main:['start_instance_task'],post:['confirm_instance_active_task']
process_failure_recovery_tasks = pre:['disable_compute_node_task'],main:['confirm_compute_node_disabled_task'],post:[]

[oslo_policy]
policy_file = /etc/masakari/policy.yaml

[oslo_middleware]
max_request_body_size = 200000
"""
IGNORED = """
[DEFAULT]
transport_url = rabbit://masakari:secret@rabbit:5672/
notification_delay_max = 5
periodic_fuzzy_delay = 60
masakari_topic = ha_engine
os_privileged_user_password = secret
masakari_api_listen_port = 15868
log_dir = /var/log/masakari
site_extra = 1

[coordination]
backend_url = etcd3+http://etcd:2379

[database]
connection = mysql+pymysql://masakari:secret@db/masakari

[taskflow]
connection = mysql+pymysql://masakari:secret@db/masakari

[keystone_authtoken]
auth_url = http://keystone:5000/v3
"""


def convert(tmp_path, capsys, text: str, *extra: str):
    path = tmp_path / "masakari.conf"
    path.write_text(text)
    capsys.readouterr()
    status = main(["settings", "--from-masakari-conf", str(path), *extra])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def settings_from(out: str, monkeypatch) -> Settings:
    """The settings a function would read with the printed environment."""
    for line in out.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            monkeypatch.setenv(name, shlex.split(value)[0] if value else "")
    get_settings.cache_clear()
    try:
        return get_settings()
    finally:
        get_settings.cache_clear()


def test_every_option_vigil_keeps_is_reproduced(tmp_path, capsys, monkeypatch):
    status, out, err = convert(tmp_path, capsys, KEPT)
    assert status == 0, err
    assert "# ignored" not in out
    s = settings_from(out, monkeypatch)
    assert s.auth_strategy == "noauth"
    assert (s.duplicate_notification_detection_interval, s.wait_period_after_service_update) == (
        300,
        200,
    )
    assert (s.wait_period_after_evacuation, s.wait_period_after_power_off) == (120, 190)
    assert (s.wait_period_after_power_on, s.verify_interval) == (70, 2.0)
    assert (s.host_failure_recovery_threads, s.process_unfinished_notifications_interval) == (
        8,
        130,
    )
    assert (s.retry_notification_new_status_interval, s.check_expired_notifications_interval) == (
        70,
        610,
    )
    assert (s.notifications_expired_interval, s.osapi_max_limit) == (86000, 500)
    assert s.max_request_body_size == 200000
    assert s.policy_file == "/etc/masakari/policy.yaml"
    hf = s.host_failure
    assert (hf.evacuate_all_instances, hf.ha_enabled_instance_metadata_key) == (False, "HA")
    assert (hf.ignore_instances_in_error_state, hf.add_reserved_host_to_aggregate) == (True, True)
    assert hf.service_disable_reason == "Host failed (site policy)."
    assert s.instance_failure.process_all_instances is True
    assert s.instance_failure.ha_enabled_instance_metadata_key == "VM_HA"
    assert s.process_failure.service_disable_reason == "Process failed (site policy)."
    flows = s.taskflow_driver_recovery_flows
    assert flows.host_auto_failure_recovery_tasks == {
        "pre": ["disable_compute_service_task", "site_task"],
        "main": ["prepare_HA_enabled_instances_task"],
        "post": ["evacuate_instances_task"],
    }
    assert flows.host_rh_failure_recovery_tasks["post"] == []
    assert flows.process_failure_recovery_tasks["main"] == ["confirm_compute_node_disabled_task"]


def test_ignored_options_are_listed_with_the_reason(tmp_path, capsys):
    status, out, _ = convert(tmp_path, capsys, IGNORED)
    assert status == 0
    ignored = [line for line in out.splitlines() if line.startswith("# ignored: ")]
    assert len(ignored) == 12 and len(out.splitlines()) == 12
    assert "# ignored: [DEFAULT] transport_url: no oslo.messaging" in out
    assert "# ignored: [DEFAULT] notification_delay_max: not used (api.md §13 #7)" in out
    assert "# ignored: [coordination] backend_url: not used: recoveries are serialised" in out
    assert "# ignored: [DEFAULT] os_privileged_user_password: Vigil calls Nova with the " in out
    assert "# ignored: [database] connection: Vigil's database is PostgreSQL" in out
    assert "# ignored: [DEFAULT] site_extra: not an option Vigil knows" in out
    assert "secret" not in out


def test_configmap_form_carries_the_same_settings(tmp_path, capsys):
    _, env_out, _ = convert(tmp_path, capsys, KEPT + IGNORED)
    status, out, _ = convert(tmp_path, capsys, KEPT + IGNORED, "--format", "configmap")
    assert status == 0
    document = yaml.safe_load(out)
    assert (document["kind"], document["metadata"]["name"]) == ("ConfigMap", "vigil-config")
    expected = {}
    for line in env_out.splitlines():
        if not line.startswith("#"):
            name, value = line.split("=", 1)
            expected[name] = shlex.split(value)[0]
    assert document["data"] == expected
    assert all(isinstance(v, str) for v in document["data"].values())
    assert "# ignored: [DEFAULT] transport_url" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[DEFAULT]\nhost_failure_recovery_threads = many\n", "host_failure_recovery_threads:"),
        (
            "[DEFAULT]\nauth_strategy = ldap\n",
            "auth_strategy = ldap: Vigil knows keystone, noauth2",
        ),
        ("[host_failure]\nevacuate_all_instances = maybe\n", "not a boolean"),
        ("[DEFAULT]\nosapi_max_limit = 0\n", "osapi_max_limit:"),
        ("no section header\n", "not an INI file"),
    ],
)
def test_a_value_vigil_cannot_take_is_one_clear_error(tmp_path, capsys, text, message):
    status, out, err = convert(tmp_path, capsys, text)
    assert status == 1 and out == ""
    assert err.startswith("vigil settings --from-masakari-conf: ") and err.count("\n") == 1
    assert message in err


def test_a_missing_file_is_one_clear_error(tmp_path, capsys):
    status = main(["settings", "--from-masakari-conf", str(tmp_path / "absent.conf")])
    err = capsys.readouterr().err
    assert status == 1 and "cannot read" in err and "No such file" in err
