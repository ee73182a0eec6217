"""Vigil's one settings object, read from ``VIGIL_*`` environment variables.

Masakari's option names are kept. Options of Masakari's ``[DEFAULT]`` section are top-level
(``VIGIL_DUPLICATE_NOTIFICATION_DETECTION_INTERVAL``); options of another section are nested
under it with a double underscore (``VIGIL_HOST_FAILURE__EVACUATE_ALL_INSTANCES``). Every field
carries its description: ``vigil settings`` prints them, and the README's table is that output.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KUBELET_RENEWAL_SECONDS = 10  # the kubelet renews its node Lease every 10 s
FAST_INTERVAL = 5  # sampling interval that lets a proven-off host be reported within seconds


def _flow(pre: list[str], main: list[str], post: list[str]) -> Any:
    return Field(
        default_factory=lambda: {"pre": list(pre), "main": list(main), "post": list(post)},
        description="JSON object of step-name lists `pre`, `main`, `post` (entry points in "
        "the `vigil.recovery_tasks` group)",
    )


class HostFailure(BaseModel):
    """``[host_failure]``: how a failed compute host is recovered (recovery.md §6, §15)."""

    evacuate_all_instances: bool = Field(
        True, description="also evacuate servers without the HA metadata key, after the HA ones"
    )
    ha_enabled_instance_metadata_key: str = Field(
        "HA_Enabled", description="server metadata key whose true value marks a server for HA"
    )
    ignore_instances_in_error_state: bool = Field(
        False, description="leave servers in vm_state `error` on the failed host"
    )
    add_reserved_host_to_aggregate: bool = Field(
        False, description="add the chosen reserved host to every aggregate of the failed host"
    )
    service_disable_reason: str = Field(
        "Masakari detected host failed.",
        description="`disabled_reason` set on the failed "
        "host's nova-compute service (Masakari's text, for tools that match it)",
    )
    force_down_after_fencing: bool = Field(
        True,
        description="fence, force the service down, then disable (no sleep); false: "
        "Masakari's disable then `wait_period_after_service_update` sleep",
    )
    instance_priority_metadata_key: str | None = Field(
        None,
        description="metadata key holding an integer restart priority (highest first); "
        "unset: Masakari's order",
    )
    default_instance_priority: int = Field(
        500, description="priority of servers without a valid priority value"
    )


class InstanceFailure(BaseModel):
    """``[instance_failure]`` (recovery.md §7)."""

    process_all_instances: bool = Field(
        False, description="restart failed servers even without the HA metadata key"
    )
    ha_enabled_instance_metadata_key: str = Field(
        "HA_Enabled", description="server metadata key marking a server for restart"
    )


class ProcessFailure(BaseModel):
    """``[process_failure]`` (recovery.md §8)."""

    service_disable_reason: str = Field(
        "Masakari detected process failed.",
        description="`disabled_reason` set when nova-compute itself fails",
    )


class RecoveryFlows(BaseModel):
    """``[taskflow_driver_recovery_flows]``: pre/main/post step lists per workflow (§12)."""

    host_auto_failure_recovery_tasks: dict[str, list[str]] = _flow(
        ["disable_compute_service_task"],
        ["prepare_HA_enabled_instances_task"],
        ["evacuate_instances_task"],
    )
    host_rh_failure_recovery_tasks: dict[str, list[str]] = _flow(
        ["disable_compute_service_task"],
        ["prepare_HA_enabled_instances_task", "evacuate_instances_task"],
        [],
    )
    instance_failure_recovery_tasks: dict[str, list[str]] = _flow(
        ["stop_instance_task"], ["start_instance_task"], ["confirm_instance_active_task"]
    )
    process_failure_recovery_tasks: dict[str, list[str]] = _flow(
        ["disable_compute_node_task"], ["confirm_compute_node_disabled_task"], []
    )


class HostMonitor(BaseModel):
    """``[host]``: monitoring cadence (monitoring.md §10-11)."""

    monitoring_interval: int = Field(
        60,
        ge=1,
        description="seconds between sampling rounds (several per tick when shorter "
        f"than the PingSource period); when unset and a fencing driver (or `taint`) is chosen: "
        f"{FAST_INTERVAL}, for the proven-off path",
    )
    monitoring_samples: int = Field(
        1, ge=1, description="consecutive agreeing samples before a host's state settles"
    )
    steady_sample_interval: int = Field(
        60,
        ge=0,
        description="seconds between stored samples of a host that stays alive with "
        "unchanged signals (changes and non-`up` samples are always stored); 0: every round",
    )
    nova_only_hosts: str = Field(
        "",
        description="comma-separated names or shell patterns of registered hosts without a "
        "Kubernetes Node to monitor through Nova and the fencing driver (`*`: all of them)",
    )
    disable_ipmi_check: bool = Field(
        False,
        description="UNSAFE opt-out: report dead hosts as fenced (`host_status: NORMAL`) "
        "without evidence",
    )


class KubernetesMonitor(BaseModel):
    """``[kubernetes]``: where and how the monitor reads Nodes and Leases."""

    kubeconfig: str | None = Field(
        None, description="kubeconfig path (else `KUBECONFIG`, else in-cluster config)"
    )
    monitoring_node_labels: str = Field(
        "", description="label selector of the Nodes to watch (empty: all)"
    )
    lease_grace_seconds: int = Field(
        50, ge=1, description="a node Lease older than this (API server clock) counts as stale"
    )
    suspect_seconds: int = Field(
        20,
        description="a node Lease older than this (API server clock) makes the host a suspect: "
        "the fencing driver is asked at once, and power proven off settles it dead",
    )
    lease_namespace: str = Field("kube-node-lease", description="namespace of the node Leases")

    @model_validator(mode="after")
    def _suspect_between_renewal_and_grace(self) -> KubernetesMonitor:
        if not KUBELET_RENEWAL_SECONDS <= self.suspect_seconds < self.lease_grace_seconds:
            raise ValueError(
                f"[kubernetes] suspect_seconds ({self.suspect_seconds}) must be at least the "
                f"kubelet's renewal period ({KUBELET_RENEWAL_SECONDS} s) and below "
                f"lease_grace_seconds ({self.lease_grace_seconds})"
            )
        return self


class Consul(BaseModel):
    """``[consul]``: optional per-network probes and the HA-strategy matrix (monitoring.md §3.4)."""

    agent_manage: str | None = Field(
        None, description="consul agent `addr[:port]` of the management network"
    )
    agent_tenant: str | None = Field(
        None, description="consul agent `addr[:port]` of the tenant network"
    )
    agent_storage: str | None = Field(
        None, description="consul agent `addr[:port]` of the storage network"
    )
    matrix_config_file: str | None = Field(
        None,
        description="HA-strategy matrix YAML (`sequence`, `matrix`); unset: Masakari's "
        "default (recover iff storage is down)",
    )
    probe_targets_file: str | None = Field(
        None,
        description='YAML `{host: {manage|tenant|storage: "addr:port"}}` probed by TCP '
        "connect instead of consul",
    )
    probe_timeout: float = Field(1.0, gt=0, description="seconds per TCP probe")


class SafetyGates(BaseModel):
    """Vigil's monitor safety gates (monitoring.md §9)."""

    max_down_percent: int = Field(
        50,
        ge=0,
        le=100,
        description="brake: no STOPPED for a segment whose dead share exceeds this percentage",
    )
    max_hosts_per_cycle: int = Field(
        10, ge=1, description="at most this many STOPPED reports per cycle; the rest wait"
    )
    flap_max_transitions: int = Field(
        3, ge=1, description="settled-state changes within `flap_window` that mark a host flapping"
    )
    flap_window: int = Field(3600, ge=1, description="seconds over which transitions are counted")
    flap_hold: int = Field(
        600, ge=0, description="seconds a flapping host must hold one state before it is reported"
    )
    api_timeout: float = Field(
        5.0,
        gt=0,
        description="seconds for a Kubernetes, Nova or consul read; no answer means "
        "no verdicts that cycle",
    )
    partition_hold_cycles: int = Field(
        3, ge=0, description="cycles held after more than half the healthy hosts drop at once"
    )


class Fencing(BaseModel):
    """How a dead host is proven off (monitoring.md §6) and forced off (recovery.md §15.1)."""

    driver: Literal["redfish", "ipmi", "taint"] | None = Field(
        None,
        description="the fencing choice: `redfish` or `ipmi` (power read by the monitor, forced "
        "off by recovery; the BMC map's default), `taint` (only the Node's out-of-service taint "
        "proves a host off); unset: the monitor refuses to start unless "
        "`VIGIL_HOST__DISABLE_IPMI_CHECK` is true",
    )
    bmc_map_file: str | None = Field(
        None,
        description="YAML map of each host's BMC (driver, address, credentials folder per host "
        'or per group); see README "Fencing"',
    )
    redfish_url_template: str | None = Field(
        None,
        description="hosts not in the BMC map: Redfish system URL with `{host}`, e.g. "
        "`https://bmc-{host}/redfish/v1/Systems/1`",
    )
    redfish_username: str | None = Field(None, description="BMC user for the URL template")
    redfish_password: str | None = Field(None, description="BMC password for the URL template")
    timeout: float = Field(5.0, gt=0, description="seconds per BMC request")
    retry_max: int = Field(3, ge=0, description="extra power-state reads before giving up")
    retry_interval: float = Field(10.0, ge=0, description="seconds between power-state reads")


class HostReturn(BaseModel):
    """``[host_return]``: the way back of a recovered host (off by default, as in Masakari)."""

    enabled: bool = Field(
        False,
        description="return a recovered host to service once it is back: clear `forced_down`, "
        "enable its compute service (if Vigil disabled it) and clear `on_maintenance`",
    )
    hold_seconds: int = Field(
        600,
        ge=0,
        description="seconds the host must stay alive (Node Ready and a fresh Lease, or Nova `up` "
        "for a host without a Node; not flapping) before it is returned",
    )


class Purge(BaseModel):
    """Purge defaults (purge.md)."""

    age_in_days: int = Field(
        30,
        ge=0,
        description="finished/failed/ignored notifications and soft-deleted rows "
        "older than this go",
    )
    max_rows: int = Field(-1, description="one budget of rows across tables; -1: no limit")
    health_sample_retention: int = Field(
        7 * 86400, ge=60, description="seconds health samples are kept"
    )
    purge_batch_size: int = Field(1000, ge=1, description="parent rows per short transaction")
    time_limit: int = Field(
        240, ge=1, description="seconds a purge tick may run; the next run continues"
    )
    lock_timeout_ms: int = Field(
        2000, ge=1, description="a batch waiting longer than this for a lock is skipped"
    )


class DeadLetters(BaseModel):
    """Bounds of the dead-letter sink (shared/deadletters.py): it takes no token, so what any
    in-cluster caller can make it store is limited."""

    max_event_bytes: int = Field(
        65536,
        ge=1024,
        description="a dead letter with a larger HTTP body is refused (413), logged and counted",
    )
    max_rows: int = Field(
        10000,
        ge=1,
        description="dead letters kept; storing one more drops the oldest (logged and counted)",
    )


class Logging(BaseModel):
    """How the four functions write their logs (one format for all)."""

    format: Literal["text", "json"] = Field(
        "text",
        description="`json`: one JSON object per line (for a log collector); `text`: one "
        "readable line",
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="lowest level written"
    )


class Capacity(BaseModel):
    """Failover capacity (admission control): can a segment absorb its largest host?"""

    check: bool = Field(
        False,
        description="the monitor checks every segment's failover capacity from Placement "
        "each tick, stores it for `/metrics` and emits `segment.capacity.lost`/`.restored`",
    )
    check_interval: int = Field(
        300, ge=1, description="seconds between two capacity checks of the monitor"
    )


class Settings(BaseSettings):
    """Everything Vigil reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    database_url: str | None = Field(
        None,
        description="PostgreSQL URL (`postgresql://user:pass@host/db`, pg8000 driver); "
        "unset: local commands start an embedded PostgreSQL and print where its data lives",
    )
    auth_strategy: Literal["keystone", "noauth"] = Field(
        "keystone",
        description="`keystone` validates `X-Auth-Token`; `noauth` is development "
        "only (every caller is admin, a warning is logged)",
    )
    policy_file: str | None = Field(
        None, description="oslo.policy YAML overriding the admin-only rules"
    )
    cloud: str = Field(
        "vigil",
        description="clouds.yaml entry with Vigil's own service identity (all Nova and "
        "Keystone calls)",
    )
    clouds_yaml: str | None = Field(
        None,
        description="clouds.yaml path (else `OS_CLIENT_CONFIG_FILE`, else the standard locations)",
    )
    token_cache_seconds: int = Field(
        300, ge=0, description="how long a validated token is trusted (never past its expiry)"
    )

    event_type_prefix: str = Field(
        "org.openstack.vigil",
        description="reverse-DNS prefix of every CloudEvent type; keep "
        "it equal to the Trigger filters",
    )
    sink: str | None = Field(
        None, description="where events are published when `K_SINK` (SinkBinding) is not set"
    )
    publish_timeout: float = Field(5.0, gt=0, description="seconds per event delivery to the sink")

    max_request_body_size: int = Field(114688, ge=1, description="larger request bodies get 413")
    osapi_max_limit: int = Field(1000, ge=1, description="largest page a list returns")
    duplicate_notification_detection_interval: int = Field(
        180, ge=0, description="seconds within which an equal notification is a 409 duplicate"
    )
    api_upstream_timeout: float = Field(
        10.0, gt=0, description="seconds the api waits for Keystone or Nova before answering 503"
    )

    wait_period_after_service_update: int = Field(
        180,
        ge=0,
        description="process flow: seconds to confirm a disabled service; host flow: "
        "the fixed wait, only without force-down",
    )
    wait_period_after_evacuation: int = Field(
        90, ge=1, description="seconds one server may take to evacuate"
    )
    wait_period_after_power_off: int = Field(
        180, ge=1, description="seconds to confirm a server stopped"
    )
    wait_period_after_power_on: int = Field(
        60, ge=1, description="seconds to confirm a server active"
    )
    verify_interval: float = Field(1.0, gt=0, description="seconds between Nova polls")
    host_failure_recovery_threads: int = Field(
        16, ge=1, description="parallel evacuations per notification (Masakari: 3)"
    )
    process_unfinished_notifications_interval: int = Field(
        120, ge=1, description="retry sweep: seconds between retries of `error` and stale `new`"
    )
    retry_notification_new_status_interval: int = Field(
        60, ge=0, description="a `new` notification older than this is re-triggered"
    )
    check_expired_notifications_interval: int = Field(
        600, ge=1, description="seconds between expiry runs"
    )
    notifications_expired_interval: int = Field(
        86400, ge=1, description="unfinished notifications older than this become `failed`"
    )
    recovery_lease_seconds: int = Field(
        60,
        ge=3,
        description="a recovery whose owner stops renewing for this long is resumed "
        "by another instance",
    )
    recovery_heartbeat_seconds: float = Field(
        10.0, gt=0, description="seconds between lease renewals"
    )
    recovery_time_budget: int = Field(
        570,
        ge=1,
        description="seconds one invocation may run: no evacuation starts that could "
        "outlast it; the rest is handed to a resume (keep below the Service timeoutSeconds)",
    )
    nova_page_size: int = Field(
        500, ge=1, description="servers per page when listing the failed host"
    )
    nova_request_timeout: float = Field(
        30.0, gt=0, description="seconds one Nova call may take before recovery treats it as failed"
    )

    host_failure: HostFailure = Field(default_factory=HostFailure)
    instance_failure: InstanceFailure = Field(default_factory=InstanceFailure)
    process_failure: ProcessFailure = Field(default_factory=ProcessFailure)
    taskflow_driver_recovery_flows: RecoveryFlows = Field(default_factory=RecoveryFlows)
    host: HostMonitor = Field(default_factory=HostMonitor)
    kubernetes: KubernetesMonitor = Field(default_factory=KubernetesMonitor)
    consul: Consul = Field(default_factory=Consul)
    safety: SafetyGates = Field(default_factory=SafetyGates)
    fencing: Fencing = Field(default_factory=Fencing)
    host_return: HostReturn = Field(default_factory=HostReturn)
    purge: Purge = Field(default_factory=Purge)
    logging: Logging = Field(default_factory=Logging)
    capacity: Capacity = Field(default_factory=Capacity)
    dead_letters: DeadLetters = Field(default_factory=DeadLetters)

    @model_validator(mode="after")
    def _fast_sampling_with_fencing(self) -> Settings:
        """A fencing choice makes the proven-off path possible; sample often enough to use it."""
        if (
            self.fencing.driver is not None
            and "monitoring_interval" not in self.host.model_fields_set
        ):
            self.host.monitoring_interval = FAST_INTERVAL
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()


def reference() -> list[tuple[str, str, str]]:
    """``(variable, default, description)`` for every setting, in declaration order."""
    rows: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                walk(kind, f"{prefix}{name.upper()}__")
                continue
            default = field.get_default(call_default_factory=True)
            shown = (
                "unset"
                if default is None
                else (
                    str(default).lower()
                    if isinstance(default, bool)
                    else '""'
                    if default == ""
                    else str(default).replace("'", '"')
                )
            )
            rows.append((f"VIGIL_{prefix}{name.upper()}", shown, field.description or ""))

    walk(Settings, "")
    return rows
