"""Instance failure steps: stop, start, confirm active (recovery.md §7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.recovery.context import RecoveryContext, Settled
from shared.recovery.host_tasks import truthy
from shared.recovery.nova import NovaError, vm_state
from shared.recovery.steps import Task


class InstanceRecoveryFailed(RuntimeError):
    """Stopping, starting or confirming the server failed; the notification ends in error."""


def wait_for(ctx: RecoveryContext, seconds: float, read: Callable[[], Any], done, what: str) -> Any:
    """Poll until ``done``; a timeout fails the step naming ``what``."""
    return ctx.poll(
        seconds,
        read,
        done,
        lambda: InstanceRecoveryFailed(f"Timed out after {seconds} s waiting for {what}"),
    )


class StopInstanceTask(Task):
    step_name = "StopInstanceTask"

    def execute(self, instance_uuid: str) -> None:
        nova = self.ctx.nova
        options = self.ctx.settings.instance_failure
        server = nova.server(instance_uuid)
        ha = truthy(
            (server.get("metadata") or {}).get(options.ha_enabled_instance_metadata_key, False)
        )
        if not ha and not options.process_all_instances:
            raise Settled(
                "finished",
                f"Skipping recovery for instance: {instance_uuid} as it is not Ha_Enabled",
            )
        state = vm_state(server)
        if state in ("paused", "rescued"):
            raise Settled(
                "ignored",
                f"Recovery of instance {instance_uuid} ignored: it is {state}, "
                "a state an operator chose",
            )
        self.report(f"Stopping instance: {instance_uuid}", 0.0)
        if state != "stopped":
            if state == "resized":
                nova.action(instance_uuid, {"os-resetState": {"state": "active"}})
            try:
                nova.action(instance_uuid, {"os-stop": None})
            except NovaError as exc:
                if exc.status != 409:
                    raise
            wait_for(
                self.ctx,
                self.ctx.settings.wait_period_after_power_off,
                lambda: nova.server(instance_uuid),
                lambda s: vm_state(s) == "stopped",
                f"instance {instance_uuid} to stop",
            )
        self.report(f"Stopped instance: '{instance_uuid}'", 1.0)


class StartInstanceTask(Task):
    step_name = "StartInstanceTask"

    def execute(self, instance_uuid: str) -> None:
        nova = self.ctx.nova
        self.report(f"Starting instance: '{instance_uuid}'", 0.0)
        state = vm_state(nova.server(instance_uuid))
        if state == "stopped":
            nova.action(instance_uuid, {"os-start": None})
        elif state != "active":  # active: a resumed attempt already started it
            raise InstanceRecoveryFailed(
                f"Invalid state for Instance {instance_uuid}. Expected state: 'STOPPED', "
                f"Current state: '{str(state).upper()}'"
            )
        self.report(f"Instance started: '{instance_uuid}'", 1.0)


class ConfirmInstanceActiveTask(Task):
    step_name = "ConfirmInstanceActiveTask"

    def execute(self, instance_uuid: str) -> None:
        nova = self.ctx.nova
        self.report(f"Confirming instance '{instance_uuid}' vm_state is ACTIVE", 0.0)
        wait_for(
            self.ctx,
            self.ctx.settings.wait_period_after_power_on,
            lambda: nova.server(instance_uuid),
            lambda s: vm_state(s) == "active",
            f"instance {instance_uuid} to become active",
        )
        self.report(f"Confirmed instance '{instance_uuid}' vm_state is ACTIVE", 1.0)
