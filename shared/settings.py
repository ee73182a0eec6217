"""Vigil's one settings object, read from ``VIGIL_*`` environment variables.

Masakari's option names are kept. Options of Masakari's ``[DEFAULT]`` section are top-level
(``VIGIL_DUPLICATE_NOTIFICATION_DETECTION_INTERVAL``); options of another section are nested
under it with a double underscore (``VIGIL_HOST_FAILURE__EVACUATE_ALL_INSTANCES``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HostFailure(BaseModel):
    """``[host_failure]``: how a failed compute host is recovered (recovery.md §6, §15)."""

    evacuate_all_instances: bool = True
    ha_enabled_instance_metadata_key: str = "HA_Enabled"
    ignore_instances_in_error_state: bool = False
    add_reserved_host_to_aggregate: bool = False
    service_disable_reason: str = "Masakari detected host failed."
    force_down_after_fencing: bool = True
    instance_priority_metadata_key: str | None = None
    default_instance_priority: int = 500


class InstanceFailure(BaseModel):
    """``[instance_failure]`` (recovery.md §7)."""

    process_all_instances: bool = False
    ha_enabled_instance_metadata_key: str = "HA_Enabled"


class ProcessFailure(BaseModel):
    """``[process_failure]`` (recovery.md §8)."""

    service_disable_reason: str = "Masakari detected process failed."


class RecoveryFlows(BaseModel):
    """``[taskflow_driver_recovery_flows]``: pre/main/post step lists per workflow (§12)."""

    host_auto_failure_recovery_tasks: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "pre": ["disable_compute_service_task"],
            "main": ["prepare_HA_enabled_instances_task"],
            "post": ["evacuate_instances_task"],
        }
    )
    host_rh_failure_recovery_tasks: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "pre": ["disable_compute_service_task"],
            "main": ["prepare_HA_enabled_instances_task", "evacuate_instances_task"],
            "post": [],
        }
    )
    instance_failure_recovery_tasks: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "pre": ["stop_instance_task"],
            "main": ["start_instance_task"],
            "post": ["confirm_instance_active_task"],
        }
    )
    process_failure_recovery_tasks: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "pre": ["disable_compute_node_task"],
            "main": ["confirm_compute_node_disabled_task"],
            "post": [],
        }
    )


class HostMonitor(BaseModel):
    """``[host]``: monitoring cadence (monitoring.md §10-11)."""

    monitoring_interval: int = Field(60, ge=1)
    monitoring_samples: int = Field(1, ge=1)
    disable_ipmi_check: bool = False


class KubernetesMonitor(BaseModel):
    """``[kubernetes]``: where and how the monitor reads Nodes and Leases."""

    kubeconfig: str | None = None
    monitoring_node_labels: str = ""
    lease_grace_seconds: int = Field(50, ge=1)
    lease_namespace: str = "kube-node-lease"


class Consul(BaseModel):
    """``[consul]``: optional per-network probes and the HA-strategy matrix (monitoring.md §3.4)."""

    agent_manage: str | None = None
    agent_tenant: str | None = None
    agent_storage: str | None = None
    matrix_config_file: str | None = None
    # Vigil: YAML {host: {manage|tenant|storage: "address:port"}} probed by TCP connect.
    probe_targets_file: str | None = None
    probe_timeout: float = Field(1.0, gt=0)


class SafetyGates(BaseModel):
    """Vigil's monitor safety gates (monitoring.md §9)."""

    max_down_percent: int = Field(50, ge=0, le=100)
    max_hosts_per_cycle: int = Field(10, ge=1)
    flap_max_transitions: int = Field(3, ge=1)
    flap_window: int = Field(3600, ge=1)
    flap_hold: int = Field(600, ge=0)
    api_timeout: float = Field(5.0, gt=0)
    partition_hold_cycles: int = Field(3, ge=0)


class Fencing(BaseModel):
    """Power-status evidence for ``host_status: NORMAL`` (monitoring.md §6)."""

    driver: Literal["none", "redfish"] = "none"
    redfish_url_template: str | None = None
    redfish_username: str | None = None
    redfish_password: str | None = None
    timeout: float = Field(5.0, gt=0)
    retry_max: int = Field(3, ge=0)
    retry_interval: float = Field(10.0, ge=0)


class Purge(BaseModel):
    """Purge defaults (purge.md)."""

    age_in_days: int = Field(30, ge=0)
    max_rows: int = -1
    health_sample_retention: int = Field(7 * 86400, ge=60)
    purge_batch_size: int = Field(1000, ge=1)
    time_limit: int = Field(240, ge=1)
    lock_timeout_ms: int = Field(2000, ge=1)


class Settings(BaseSettings):
    """Everything Vigil reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    # Where state lives. Unset: local commands start an embedded PostgreSQL.
    database_url: str | None = None
    # keystone: validate X-Auth-Token against Keystone; noauth: development only, everyone admin.
    auth_strategy: Literal["keystone", "noauth"] = "keystone"
    # oslo.policy file overriding the admin-only defaults.
    policy_file: str | None = None
    # Service credentials (clouds.yaml entry) used for every Nova and Keystone call.
    cloud: str = "vigil"
    clouds_yaml: str | None = None
    token_cache_seconds: int = Field(300, ge=0)

    # Events.
    event_type_prefix: str = "org.openstack.vigil"
    sink: str | None = None  # K_SINK (SinkBinding) takes precedence when set
    publish_timeout: float = Field(5.0, gt=0)

    # API limits.
    max_request_body_size: int = Field(114688, ge=1)
    osapi_max_limit: int = Field(1000, ge=1)
    duplicate_notification_detection_interval: int = Field(180, ge=0)
    # Seconds the api waits for Keystone (token validation) or Nova (host name check) -> 503.
    api_upstream_timeout: float = Field(10.0, gt=0)

    # Recovery timing (recovery.md §10).
    wait_period_after_service_update: int = Field(180, ge=0)
    wait_period_after_evacuation: int = Field(90, ge=1)
    wait_period_after_power_off: int = Field(180, ge=1)
    wait_period_after_power_on: int = Field(60, ge=1)
    verify_interval: float = Field(1.0, gt=0)
    host_failure_recovery_threads: int = Field(16, ge=1)
    process_unfinished_notifications_interval: int = Field(120, ge=1)
    retry_notification_new_status_interval: int = Field(60, ge=0)
    check_expired_notifications_interval: int = Field(600, ge=1)
    notifications_expired_interval: int = Field(86400, ge=1)
    recovery_lease_seconds: int = Field(60, ge=3)
    recovery_heartbeat_seconds: float = Field(10.0, gt=0)
    # Seconds one invocation may run (§15.6): it starts no evacuation that could outlast it
    # (wait_period_after_evacuation) and hands the rest to a resume. Keep it a little below the
    # Service timeoutSeconds (600 in infra/) to leave time for the final writes.
    recovery_time_budget: int = Field(570, ge=1)
    nova_page_size: int = Field(500, ge=1)
    # Seconds one Nova HTTP call may take before recovery treats it as failed.
    nova_request_timeout: float = Field(30.0, gt=0)

    host_failure: HostFailure = Field(default_factory=HostFailure)
    instance_failure: InstanceFailure = Field(default_factory=InstanceFailure)
    process_failure: ProcessFailure = Field(default_factory=ProcessFailure)
    taskflow_driver_recovery_flows: RecoveryFlows = Field(default_factory=RecoveryFlows)
    host: HostMonitor = Field(default_factory=HostMonitor)
    kubernetes: KubernetesMonitor = Field(default_factory=KubernetesMonitor)
    consul: Consul = Field(default_factory=Consul)
    safety: SafetyGates = Field(default_factory=SafetyGates)
    fencing: Fencing = Field(default_factory=Fencing)
    purge: Purge = Field(default_factory=Purge)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
