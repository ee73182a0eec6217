"""Every Nova call recovery makes, through the process-wide openstacksdk connection.

Calls are pinned to compute microversion 2.53 (recovery.md §6.1): from 2.95 Nova leaves an
evacuated server stopped, so asking for "latest" would recover nothing a user can reach. Any
failure becomes a ``NovaError`` whose text names the call and carries Nova's reply, because that
text ends up in the notification's or vmove's ``message``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import requests
from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1.session import TCPKeepAliveAdapter
from openstack import exceptions as sdk_exc
from openstack import utils as sdk_utils

from shared.clients import openstack_connection
from shared.settings import get_settings

MICROVERSION = "2.53"
FORCE_DOWN_MICROVERSION = "2.11"
# Extra tries for GET and PUT (idempotent) when Nova times out or answers 5xx; an evacuate or
# other POST action is never repeated blindly.
IDEMPOTENT_RETRIES = 2
T = TypeVar("T")


class NovaError(RuntimeError):
    """A Nova call failed; ``status`` is the HTTP status when Nova answered at all."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _retrying(tries: int, once: Callable[[], T]) -> T:
    """Run ``once``, again after a timeout or a 5xx, up to ``tries`` times; a 4xx is final."""
    for attempt in range(tries):
        try:
            return once()
        except NovaError as exc:
            if attempt + 1 == tries or (exc.status is not None and exc.status < 500):
                raise
    raise AssertionError("unreachable")


def _reply_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500]
    if isinstance(body, dict) and len(body) == 1:
        fault = next(iter(body.values()))
        if isinstance(fault, dict) and "message" in fault:
            return str(fault["message"])
    return str(body)[:500]


class Nova:
    """Thin, typed access to the compute endpoint; shared by all evacuation workers."""

    def __init__(self) -> None:
        self.conn = openstack_connection()
        self.compute = self.conn.compute
        settings = get_settings()
        self.timeout = settings.nova_request_timeout
        if self.conn.session.timeout is None:
            # Listing goes through openstacksdk resources, which take the session's timeout.
            self.conn.session.timeout = self.timeout
        self._size_connection_pool(settings.host_failure_recovery_threads)
        self.microversion = (
            MICROVERSION
            if sdk_utils.supports_microversion(self.compute, MICROVERSION)
            else self._max_microversion()
        )

    def _size_connection_pool(self, workers: int) -> None:
        """Keep one pooled HTTP connection per evacuation worker instead of reconnecting."""
        http = self.conn.session.session
        current = http.get_adapter(self.compute.get_endpoint() or "http://")
        if getattr(current, "_pool_maxsize", 0) >= workers:
            return
        for prefix in ("https://", "http://"):
            http.mount(prefix, TCPKeepAliveAdapter(pool_connections=workers, pool_maxsize=workers))

    def _max_microversion(self) -> str | None:
        data = self.compute.get_endpoint_data()
        version = getattr(data, "max_microversion", None)
        return None if not version else f"{version[0]}.{version[1]}"

    def supports(self, version: str) -> bool:
        return sdk_utils.supports_microversion(self.compute, version)

    def call(
        self,
        method: str,
        url: str,
        body: Any = None,
        params: dict | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """One Nova request; reads and idempotent updates are retried on timeouts and 5xx."""
        if idempotent is None:
            idempotent = method in ("GET", "PUT")
        tries = 1 + (IDEMPOTENT_RETRIES if idempotent else 0)
        return _retrying(tries, lambda: self._call_once(method, url, body, params))

    def _call_once(self, method: str, url: str, body: Any, params: dict | None) -> Any:
        kwargs: dict[str, Any] = {"timeout": self.timeout}
        if self.microversion:
            kwargs["microversion"] = self.microversion
        if body is not None:
            kwargs["json"] = body
        if params:
            kwargs["params"] = params
        try:
            response = self.compute.request(url, method, **kwargs)
        except (ksa_exc.ClientException, requests.RequestException, sdk_exc.SDKException) as exc:
            raise NovaError(f"Nova {method} {url} failed: {exc}") from exc
        if response.status_code >= 400:
            raise NovaError(
                f"Nova answered {response.status_code} to {method} {url}: {_reply_text(response)}",
                response.status_code,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    # Services -------------------------------------------------------------------------------

    def service(self, host: str, binary: str = "nova-compute") -> dict[str, Any]:
        services = self.call("GET", "/os-services", params={"host": host, "binary": binary})
        found = (services or {}).get("services") or []
        if not found:
            raise NovaError(f"Nova has no {binary} service on host '{host}'", 404)
        return found[0]

    def update_service(
        self, service: dict[str, Any], host: str, binary: str, **changes: Any
    ) -> None:
        """PUT the service at ≥2.53; the per-action legacy URLs below that."""
        if self.supports(MICROVERSION):
            self.call("PUT", f"/os-services/{service['id']}", changes)
            return
        ident = {"host": host, "binary": binary}
        if "forced_down" in changes:
            self.call(
                "PUT", "/os-services/force-down", {**ident, "forced_down": changes["forced_down"]}
            )
        if changes.get("status") == "disabled":
            reason = changes.get("disabled_reason")
            if reason:
                self.call(
                    "PUT", "/os-services/disable-log-reason", {**ident, "disabled_reason": reason}
                )
            else:
                self.call("PUT", "/os-services/disable", ident)
        elif changes.get("status") == "enabled":
            self.call("PUT", "/os-services/enable", ident)

    # Servers --------------------------------------------------------------------------------

    def servers_on_host(self, host: str) -> list[dict[str, Any]]:
        """Every server on ``host``, page by page (limit/marker) until Nova has no more."""
        kwargs: dict[str, Any] = {"limit": get_settings().nova_page_size}
        if self.microversion:
            kwargs["microversion"] = self.microversion

        def listing() -> list[dict[str, Any]]:
            try:
                return [
                    {
                        "id": s.id,
                        "name": s.name or "",
                        "metadata": dict(s.metadata or {}),
                        "vm_state": s.vm_state,
                        "task_state": s.task_state,
                    }
                    for s in self.compute.servers(
                        details=True, all_projects=True, compute_host=host, **kwargs
                    )
                ]
            except (
                ksa_exc.ClientException,
                requests.RequestException,
                sdk_exc.SDKException,
            ) as exc:
                status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
                raise NovaError(
                    f"Nova server listing for host '{host}' failed: {exc}", status
                ) from exc

        return _retrying(1 + IDEMPOTENT_RETRIES, listing)

    def server(self, server_id: str) -> dict[str, Any]:
        return self.call("GET", f"/servers/{server_id}")["server"]

    def action(self, server_id: str, body: dict[str, Any]) -> Any:
        """A server action; lock, unlock and reset-state may be repeated safely, others not."""
        idempotent = set(body) <= {"lock", "unlock", "os-resetState"}
        return self.call("POST", f"/servers/{server_id}/action", body, idempotent=idempotent)

    # Aggregates -----------------------------------------------------------------------------

    def aggregates(self) -> list[dict[str, Any]]:
        return (self.call("GET", "/os-aggregates") or {}).get("aggregates") or []

    def add_host_to_aggregate(self, aggregate_id: Any, host: str) -> None:
        try:
            self.call("POST", f"/os-aggregates/{aggregate_id}/action", {"add_host": {"host": host}})
        except NovaError as exc:
            if exc.status != 409:  # already a member
                raise


def vm_state(server: dict[str, Any]) -> str | None:
    return server.get("OS-EXT-STS:vm_state")


def task_state(server: dict[str, Any]) -> str | None:
    return server.get("OS-EXT-STS:task_state")


def power_state(server: dict[str, Any]) -> int | None:
    return server.get("OS-EXT-STS:power_state")


def service_host(server: dict[str, Any]) -> str | None:
    """The nova-compute service host the server is on: what Vigil host names equal (api.md §9).

    ``hypervisor_hostname`` is often the node's FQDN under libvirt, so it cannot say whether a
    server left the failed host; it is only what vmoves record as ``dest_host``.
    """
    return server.get("OS-EXT-SRV-ATTR:host") or server.get("OS-EXT-SRV-ATTR:hypervisor_hostname")


def hypervisor(server: dict[str, Any]) -> str | None:
    return server.get("OS-EXT-SRV-ATTR:hypervisor_hostname") or server.get("OS-EXT-SRV-ATTR:host")
