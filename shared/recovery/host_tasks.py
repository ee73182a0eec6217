"""Host failure steps (recovery.md §6, §15.1-15.3, §15.10)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select

from shared.db import session_scope, utcnow
from shared.models import VMove
from shared.power import Fence, PowerError, power_fence
from shared.recovery.context import Settled
from shared.recovery.evacuation import evacuate_attempt
from shared.recovery.nova import FORCE_DOWN_MICROVERSION, NovaError, summary
from shared.recovery.reporting import earlier_outputs
from shared.recovery.steps import Task

log = logging.getLogger(__name__)

TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")


def truthy(value: Any) -> bool:
    """oslo's ``bool_from_string`` (non-strict): anything else is False."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_STRINGS


class FenceFailed(RuntimeError):
    """The host could not be shown powered off, so nothing may be forced down or evacuated."""


class DisableComputeServiceTask(Task):
    """Fence, force the service down, then disable it: no fixed sleep (§15.1)."""

    step_name = "DisableComputeServiceTask"

    def execute(self, host_name: str) -> None:
        settings = self.ctx.settings
        nova = self.ctx.nova
        self.report(f"Disabling compute service on host: '{host_name}'", 0.0)
        reason = settings.host_failure.service_disable_reason
        service = nova.service(host_name)
        force_down = settings.host_failure.force_down_after_fencing and nova.supports(
            FORCE_DOWN_MICROVERSION
        )
        # Fencing comes first in either mode (§15.1 step 1): a failed fence fails the step.
        self.report(self._fencing_evidence(host_name), 0.2)
        if force_down:
            if not service.get("forced_down"):
                nova.update_service(service, host_name, "nova-compute", forced_down=True)
            self.report(
                f"Forced down compute service on host: '{host_name}'; Nova treats it as down "
                "and accepts evacuations now",
                0.5,
            )
            if service.get("status") != "disabled":
                nova.update_service(
                    service, host_name, "nova-compute", status="disabled", disabled_reason=reason
                )
        else:
            if service.get("status") != "disabled":
                nova.update_service(
                    service, host_name, "nova-compute", status="disabled", disabled_reason=reason
                )
            wait = settings.wait_period_after_service_update
            why = (
                "force_down_after_fencing is off"
                if not settings.host_failure.force_down_after_fencing
                else f"Nova's compute API is below microversion {FORCE_DOWN_MICROVERSION}"
            )
            self.report(
                f"Waiting {wait} s for Nova to notice host '{host_name}' is down ({why})", 0.5
            )
            self.ctx.sleep(wait)
        self.report(f"Disabled compute service on host: '{host_name}'", 1.0)

    def _fencing_evidence(self, host_name: str) -> str:
        """Why forcing down is safe. With a BMC driver configured, Vigil makes sure power is off:
        a host still on is forced off (and logged) before anything moves."""
        settings = self.ctx.settings
        try:
            fence = power_fence(settings)
            bmc = fence.bmc(host_name) if fence else None
        except PowerError as exc:
            raise FenceFailed(f"Fencing of host '{host_name}' failed: {exc}") from exc
        if fence is None or bmc is None:  # no BMC driver chosen: the sender's word stands
            return (
                f"Host '{host_name}' reported fenced by the notification's sender "
                "(host_status NORMAL)"
            )
        where = bmc.describe()
        if self._power_state(fence, host_name) == "off":
            return f"Host '{host_name}' is powered off ({where} reports Off)"
        log.warning("host %s still powered on: sending ForceOff through %s", host_name, where)
        try:
            fence.force_off(host_name)
        except PowerError as exc:
            log.error("host %s: ForceOff through %s failed: %s", host_name, where, exc)
            raise FenceFailed(f"Fencing of host '{host_name}' failed: {exc}") from exc
        self.report(f"Host '{host_name}' was still powered on: sent ForceOff through {where}", 0.1)
        for _ in range(settings.fencing.retry_max + 1):
            self.ctx.sleep(settings.fencing.retry_interval)
            if self._power_state(fence, host_name) == "off":
                log.warning(
                    "host %s powered off by Vigil through %s: Off confirmed", host_name, where
                )
                return (
                    f"Host '{host_name}' fenced by Vigil (ForceOff through {where}, Off confirmed)"
                )
        log.error("host %s still powered on after ForceOff through %s", host_name, where)
        raise FenceFailed(
            f"Host '{host_name}' still powered on after ForceOff through {where}; refusing to "
            "force its compute service down"
        )

    @staticmethod
    def _power_state(fence: Fence, host_name: str) -> str:
        try:
            return fence.power_state(host_name)
        except PowerError as exc:
            raise FenceFailed(f"Fencing of host '{host_name}' failed: {exc}") from exc


def _priority(server: dict[str, Any], key: str | None, default: int) -> int:
    if not key:
        return default
    try:
        return int(str(server["metadata"].get(key)).strip())
    except (TypeError, ValueError):
        return default


class PrepareHAEnabledInstancesTask(Task):
    """List the failed host's servers (paginated) and create the attempt's pending vmoves."""

    step_name = "PrepareHAEnabledInstancesTask"

    def execute(self, host_name: str, notification_uuid: str) -> dict[str, Any]:
        options = self.ctx.settings.host_failure
        self.report("Preparing instances for evacuation", 0.0)
        servers = self.ctx.nova.servers_on_host(host_name)
        self.report(f"Total instances running on failed host '{host_name}' is {len(servers)}", 0.3)
        left = self._left_by_earlier_attempts(notification_uuid, {s["id"] for s in servers})
        if left:
            self.report(
                f"Instances an earlier attempt moved but did not see recovered: '{','.join(left)}'",
                0.4,
            )
            servers += [summary(s) for s in map(self._still_there, left) if s is not None]
        # The state each server had before Vigil touched it, as earlier attempts recorded it: a
        # later attempt restores that, and judges "in error" by it, not by the error an earlier
        # failed evacuation left behind.
        first_seen: dict[str, str] = {}
        for step_outputs in earlier_outputs(notification_uuid, self.step_name, self.ctx.attempt):
            first_seen.update(step_outputs.get("vm_states") or {})

        def original_state(server: dict[str, Any]) -> str:
            return first_seen.get(server["id"], server["vm_state"])

        if options.ignore_instances_in_error_state:
            servers = [s for s in servers if original_state(s) != "error"]
        key = options.ha_enabled_instance_metadata_key
        ha = [s for s in servers if truthy(s["metadata"].get(key, False))]
        others = [s for s in servers if not truthy(s["metadata"].get(key, False))]
        self.report(f"Total HA Enabled instances count: '{len(ha)}'", 0.6)
        if options.evacuate_all_instances:
            self.report(f"Total Non-HA Enabled instances count: '{len(others)}'", 0.7)
            self.report(
                "All instances (HA Enabled/Non-HA Enabled) should be considered for "
                f"evacuation. Total count is: '{len(ha) + len(others)}'",
                0.8,
            )
        pkey, default = options.instance_priority_metadata_key, options.default_instance_priority

        def ordered(group: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return sorted(
                group, key=lambda s: -_priority(s, pkey, default)
            )  # stable: ties keep Nova's order

        selected = ordered(ha) + (ordered(others) if options.evacuate_all_instances else [])
        if not selected:
            raise Settled(
                "finished",
                f"Skipped host '{host_name}' recovery as no instances needs to be evacuated",
            )
        self._create_vmoves(notification_uuid, host_name, selected, pkey, default)
        self.report(f"Instances to be evacuated are: '{','.join(s['id'] for s in selected)}'", 1.0)
        return {"vm_states": {s["id"]: original_state(s) for s in selected}}

    def _left_by_earlier_attempts(self, notification_uuid: str, listed: set[str]) -> list[str]:
        """Servers earlier attempts owned and never recovered that are no longer on the host.

        A retry that finds the failed host empty must still own them: "finished" is only
        written when each is on a healthy host in the state it had.
        """
        with session_scope() as session:
            rows = session.execute(
                select(VMove.instance_uuid, VMove.status).where(
                    VMove.notification_uuid == notification_uuid,
                    VMove.attempt < self.ctx.attempt,
                )
            ).all()
        recovered = {i for i, status in rows if status == "succeeded"}
        return sorted({i for i, _ in rows} - recovered - listed)

    def _still_there(self, server_id: str) -> dict[str, Any] | None:
        try:
            return self.ctx.nova.server(server_id)
        except NovaError as exc:
            if exc.status == 404:  # deleted meanwhile: nothing left to recover
                return None
            raise

    def _create_vmoves(self, notification_uuid, host_name, selected, pkey, default) -> None:
        """The attempt's work list, once: a re-run of this step keeps what is already there."""
        with session_scope() as session:
            exists = session.scalar(
                select(VMove.id).where(
                    VMove.notification_uuid == notification_uuid, VMove.attempt == self.ctx.attempt
                )
            )
            if exists:
                return
            now = utcnow()
            for server in selected:
                session.add(
                    VMove(
                        uuid=str(uuid.uuid4()),
                        notification_uuid=notification_uuid,
                        instance_uuid=server["id"],
                        instance_name=server["name"],
                        source_host=host_name,
                        type="evacuation",
                        status="pending",
                        attempt=self.ctx.attempt,
                        priority=_priority(server, pkey, default) if pkey else None,
                        created_at=now,
                    )
                )


class EvacuateInstancesTask(Task):
    """Prepare the reserved host when there is one, then evacuate the attempt's vmoves."""

    step_name = "EvacuateInstancesTask"

    def execute(
        self,
        host_name: str,
        vm_states: dict[str, str] | None = None,
        reserved_host: str | None = None,
    ) -> None:
        nova = self.ctx.nova
        if reserved_host:
            if self.ctx.settings.host_failure.add_reserved_host_to_aggregate:
                for aggregate in nova.aggregates():
                    if host_name in (aggregate.get("hosts") or []):
                        nova.add_host_to_aggregate(aggregate["id"], reserved_host)
                        self.report(
                            f"Added reserved host '{reserved_host}' to aggregate "
                            f"'{aggregate.get('name')}'",
                            0.1,
                        )
            service = nova.service(reserved_host)
            if service.get("status") != "enabled":
                nova.update_service(service, reserved_host, "nova-compute", status="enabled")
            self.report(f"Enabled compute service on reserved host: '{reserved_host}'", 0.2)
        evacuate_attempt(self.ctx, host_name, reserved_host, vm_states or {}, self.report)
        self.report("Evacuation process completed!", 1.0)
