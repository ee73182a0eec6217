"""Every Nova call recovery makes, through the process-wide openstacksdk connection.

Calls are pinned to compute microversion 2.53 (recovery.md §6.1): from 2.95 Nova leaves an
evacuated server stopped, so asking for "latest" would recover nothing a user can reach. The
version is negotiated from Nova's version document with the same retries as every other read,
and a failed negotiation raises instead of being remembered: failovers happen when the control
plane is unwell, and a guess made during a brown-out would outlive it. Any failure becomes a
``NovaError`` whose text names the call and carries Nova's reply, because that text ends up in
the notification's or vmove's ``message``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1.session import TCPKeepAliveAdapter
from openstack import exceptions as sdk_exc

from shared.clients import openstack_connection
from shared.settings import get_settings

log = logging.getLogger(__name__)

MICROVERSION = "2.53"
FORCE_DOWN_MICROVERSION = "2.11"
# From this version an evacuated server stays stopped on its new host.
EVACUATE_STOPPED_MICROVERSION = "2.95"
# Extra tries for GET and PUT (idempotent) when Nova times out or answers 5xx, with a doubling
# pause in between, so a brown-out of a few seconds is ridden out; an evacuate or other POST
# action is never repeated blindly (see ``Nova.act``).
IDEMPOTENT_RETRIES = 5
RETRY_PAUSE = 0.1
RETRY_PAUSE_MAX = 2.0
T = TypeVar("T")


class NovaError(RuntimeError):
    """A Nova call failed; ``status`` is the HTTP status when Nova answered at all."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def transient(exc: NovaError) -> bool:
    """No answer at all (timeout, reset) or a 5xx: worth asking again."""
    return exc.status is None or exc.status >= 500


def backoff(attempt: int) -> None:
    time.sleep(min(RETRY_PAUSE * 2**attempt, RETRY_PAUSE_MAX))


def _retrying(tries: int, once: Callable[[], T]) -> T:
    """Run ``once``, again after a timeout or a 5xx, up to ``tries`` times; a 4xx is final."""
    for attempt in range(tries):
        try:
            return once()
        except NovaError as exc:
            if attempt + 1 == tries or not transient(exc):
                raise
        backoff(attempt)
    raise AssertionError("unreachable")


def parse_version(text: str | None) -> tuple[int, int] | None:
    try:
        major, minor = str(text).split(".")
        return int(major), int(minor)
    except ValueError:
        return None


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
        settings = get_settings()
        self.timeout = settings.nova_request_timeout
        if self.conn.session.timeout is None:
            # Listing goes through openstacksdk resources, which take the session's timeout.
            self.conn.session.timeout = self.timeout
        # The compute proxy authenticates and reads the catalog: Keystone may be unwell too.
        self.compute, endpoint = _retrying(1 + IDEMPOTENT_RETRIES, self._endpoint)
        self._size_connection_pool(endpoint, settings.host_failure_recovery_threads)
        self.microversion: str | None = None
        self.microversion = self._negotiate()

    def _endpoint(self) -> tuple[Any, str | None]:
        try:
            compute = self.conn.compute
            return compute, compute.get_endpoint()
        except (ksa_exc.ClientException, requests.RequestException, sdk_exc.SDKException) as exc:
            raise NovaError(f"Finding Nova's endpoint failed: {exc}") from exc

    def _size_connection_pool(self, endpoint: str | None, workers: int) -> None:
        """Keep one pooled HTTP connection per evacuation worker instead of reconnecting."""
        http = self.conn.session.session
        current = http.get_adapter(endpoint or "http://")
        if getattr(current, "_pool_maxsize", 0) >= workers:
            return
        for prefix in ("https://", "http://"):
            http.mount(prefix, TCPKeepAliveAdapter(pool_connections=workers, pool_maxsize=workers))

    def _negotiate(self) -> str | None:
        """2.53, or Nova's maximum when it is older; read with the retries of every read.

        Raises ``NovaError`` when Nova cannot be asked: the caller then builds no ``Nova`` and
        the next one asks again, so a brown-out never leaves a guessed version behind.
        """
        try:
            document = self.call("GET", "/") or {}
        except NovaError as exc:
            raise NovaError(
                f"Negotiating the compute microversion failed: {exc}", exc.status
            ) from exc
        version = document.get("version") or {}
        maximum = parse_version(version.get("version"))
        if maximum is None:
            if not isinstance(document.get("version"), dict):
                raise NovaError(f"Nova's version document has no compute version: {document}")
            log.warning("Nova's compute API has no microversions: recovery runs at 2.1")
            return None
        pinned = parse_version(MICROVERSION)
        assert pinned is not None
        chosen = min(maximum, pinned)
        if chosen < pinned:
            log.warning(
                "Nova's compute API goes up to %s.%s only: recovery runs at that version",
                *maximum,
            )
        return f"{chosen[0]}.{chosen[1]}"

    def supports(self, version: str) -> bool:
        """Whether the negotiated version reaches ``version``."""
        have, want = parse_version(self.microversion), parse_version(version)
        return have is not None and want is not None and have >= want

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
        return [summary(s) for s in self._list({"host": host})]

    def _list(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """``GET /servers/detail`` across projects, paged; a short page is the last one."""
        page_size = get_settings().nova_page_size
        params: dict[str, Any] = {"all_tenants": "True", "limit": page_size, **filters}
        found: list[dict[str, Any]] = []
        while True:
            page = (self.call("GET", "/servers/detail", params=params) or {}).get("servers") or []
            found.extend(page)
            if len(page) < page_size:
                return found
            params = {**params, "marker": page[-1]["id"]}

    def server(self, server_id: str) -> dict[str, Any]:
        return self.call("GET", f"/servers/{server_id}")["server"]

    def servers_changed_since(self, since: str) -> list[dict[str, Any]]:
        """Every server Nova changed at or after ``since`` (its own ``updated`` clock), paged.

        Nova filters one server id per list call at most, so watching many servers at once
        goes by ``changes-since``: a server's ``updated`` only moves forward, and one listing
        answers for every server being waited on.
        """
        return self._list({"changes-since": since})

    def action(self, server_id: str, body: dict[str, Any]) -> Any:
        """A server action; lock, unlock and reset-state may be repeated safely, others not."""
        idempotent = set(body) <= {"lock", "unlock", "os-resetState"}
        return self.call("POST", f"/servers/{server_id}/action", body, idempotent=idempotent)

    def act(
        self, server_id: str, body: dict[str, Any], taken: Callable[[dict[str, Any]], bool]
    ) -> None:
        """A server action that must not run twice, sent until Nova shows it was taken.

        A lost reply (timeout, connection reset) or a 5xx says nothing about whether Nova
        acted, so the server is read: ``taken(server)`` true means Nova accepted it and it is
        followed, never repeated; otherwise it is sent again. Nova itself refuses a second
        evacuate or stop while the first is under way (task_state), so a resend that crosses a
        slow first request is answered 409, and the read after it settles which one won.
        """
        tries = 1 + IDEMPOTENT_RETRIES
        for attempt in range(tries):
            try:
                self.action(server_id, body)
                return
            except NovaError as exc:
                if attempt == 0 and not transient(exc):
                    raise
                if attempt > 0 and not transient(exc) and exc.status != 409:
                    raise
                lost = exc
            log.info("%s of %s unanswered (%s): reading it back", next(iter(body)), server_id, lost)
            backoff(attempt)  # let a request Nova is still working on land before reading
            if taken(self.server(server_id)):
                return
            if attempt + 1 == tries:
                raise lost

    def evacuate(
        self, server_id: str, target: str | None, failed_host: str, before: str | None
    ) -> None:
        """Evacuate once. Taken shows as a rebuild under way, a server already off the failed
        host, or an error it entered (``before`` is its state when the call was sent)."""

        def taken(server: dict[str, Any]) -> bool:
            host = service_host(server)
            return (
                str(task_state(server) or "").startswith("rebuild")
                or (host is not None and host != failed_host)
                or (vm_state(server) == "error" and before != "error")
            )

        self.act(server_id, {"evacuate": {"host": target} if target else {}}, taken)

    # Aggregates -----------------------------------------------------------------------------

    def aggregates(self) -> list[dict[str, Any]]:
        return (self.call("GET", "/os-aggregates") or {}).get("aggregates") or []

    def add_host_to_aggregate(self, aggregate_id: Any, host: str) -> None:
        try:
            self.call("POST", f"/os-aggregates/{aggregate_id}/action", {"add_host": {"host": host}})
        except NovaError as exc:
            if exc.status != 409:  # already a member
                raise


def summary(server: dict[str, Any]) -> dict[str, Any]:
    """What Prepare needs of a server."""
    return {
        "id": server["id"],
        "name": server.get("name") or "",
        "metadata": dict(server.get("metadata") or {}),
        "vm_state": vm_state(server),
        "task_state": task_state(server),
    }


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
