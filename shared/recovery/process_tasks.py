"""Process failure steps: disable nova-compute and confirm it (recovery.md §8)."""

from __future__ import annotations

from shared.recovery.instance_tasks import wait_for
from shared.recovery.steps import Task


class DisableComputeNodeTask(Task):
    step_name = "DisableComputeNodeTask"

    def execute(self, process_name: str, host_name: str) -> None:
        nova = self.ctx.nova
        self.report(f"Disabling {process_name} on host: '{host_name}'", 0.0)
        service = nova.service(host_name, process_name)
        if service.get("status") != "disabled":
            nova.update_service(
                service,
                host_name,
                process_name,
                status="disabled",
                disabled_reason=self.ctx.settings.process_failure.service_disable_reason,
            )
            self.report(f"Disabled {process_name} on host: '{host_name}'", 1.0)
        else:
            self.report(f"{process_name} on host '{host_name}' was already disabled", 1.0)


class ConfirmComputeNodeDisabledTask(Task):
    step_name = "ConfirmComputeNodeDisabledTask"

    def execute(self, process_name: str, host_name: str) -> None:
        nova = self.ctx.nova
        self.report(f"Confirming {process_name} on host '{host_name}' is disabled", 0.0)
        wait_for(
            self.ctx,
            self.ctx.settings.wait_period_after_service_update,
            lambda: nova.service(host_name, process_name),
            lambda s: s.get("status") == "disabled",
            f"{process_name} on host '{host_name}' to be disabled",
        )
        self.report(f"Confirmed {process_name} on host '{host_name}' is disabled", 1.0)
