"""One function per route: validate the body, check the policy, call shared/, shape the reply.

The order inside every handler is the spec's check sequence (api.md §2): schema (400), policy
(403), then the lookups (404) and conflicts (409) done by the resource modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared import errors, hosts, notifications, segments, vmoves
from shared.api import discovery, policy
from shared.db import session_scope
from shared.schemas import (
    HostCreateRequest,
    HostUpdateRequest,
    SegmentCreateRequest,
    SegmentCreateRequestV12,
    SegmentUpdateRequest,
    SegmentUpdateRequestV12,
    validate,
)


@dataclass
class Reply:
    status: int
    body: Any = None


def _reply(status: int, body: Any = None) -> Reply:
    return Reply(status, body)


def bad_method(action: str) -> Callable:
    """A route Masakari maps to an action its controller lacks: 405 ``badMethod``."""

    def handler(req) -> Any:
        raise errors.BadMethod(method=req.method, action=action)

    handler.bad_method = True  # type: ignore[attr-defined]
    return handler


# ------------------------------------------------------------------ discovery


def version_v1(req):
    policy.authorize(req.context, "versions", "index")
    return _reply(200, discovery.v1(req.base_url))


def extensions_index(req):
    policy.authorize(req.context, "extensions", "index")
    found = [
        discovery.extension(alias)
        for alias in discovery.EXTENSIONS
        if policy.allowed(req.context, f"{policy.PREFIX}:{alias}:discoverable")
    ]
    return _reply(200, {"extensions": found})


def extensions_show(req):
    policy.authorize(req.context, "extensions", "detail")
    return _reply(200, {"extension": discovery.extension(req.params["alias"])})


# ------------------------------------------------------------------ segments


def segments_index(req):
    policy.authorize(req.context, "segments", "index")
    with session_scope() as session:
        return _reply(200, {"segments": segments.list_segments(session, req.args)})


def segments_create(req):
    model = SegmentCreateRequestV12 if req.version >= (1, 2) else SegmentCreateRequest
    fields = validate(model, req.body).segment.model_dump()
    policy.authorize(req.context, "segments", "create")
    return _reply(201, {"segment": segments.create_segment(fields)})


def segments_show(req):
    policy.authorize(req.context, "segments", "detail")
    with session_scope() as session:
        return _reply(200, {"segment": segments.get_segment(session, req.params["segment_id"])})


def segments_update(req):
    model = SegmentUpdateRequestV12 if req.version >= (1, 2) else SegmentUpdateRequest
    fields = validate(model, req.body).segment.model_dump(exclude_unset=True)
    policy.authorize(req.context, "segments", "update")
    return _reply(200, {"segment": segments.update_segment(req.params["segment_id"], fields)})


def segments_delete(req):
    policy.authorize(req.context, "segments", "delete")
    segments.delete_segment(req.params["segment_id"])
    return _reply(204)


# ------------------------------------------------------------------ hosts


def hosts_index(req):
    policy.authorize(req.context, "os-hosts", "index")
    with session_scope() as session:
        found = hosts.list_hosts(session, req.params["segment_id"], req.args)
    return _reply(200, {"hosts": found})


def hosts_create(req):
    fields = validate(HostCreateRequest, req.body).host.model_dump()
    policy.authorize(req.context, "os-hosts", "create")
    return _reply(201, {"host": hosts.create_host(req.params["segment_id"], fields)})


def hosts_show(req):
    policy.authorize(req.context, "os-hosts", "detail")
    with session_scope() as session:
        found = hosts.get_host(session, req.params["segment_id"], req.params["host_id"])
    return _reply(200, {"host": found})


def hosts_update(req):
    fields = validate(HostUpdateRequest, req.body).host.model_dump(exclude_unset=True)
    policy.authorize(req.context, "os-hosts", "update")
    found = hosts.update_host(req.params["segment_id"], req.params["host_id"], fields)
    return _reply(200, {"host": found})


def hosts_delete(req):
    policy.authorize(req.context, "os-hosts", "delete")
    hosts.delete_host(req.params["segment_id"], req.params["host_id"])
    return _reply(204)


def hosts_health(req):
    """Microversion 1.4 extension: the monitor's view of one host."""
    policy.authorize(req.context, "os-hosts", "health")
    limit = hosts.health_limit(req.args)
    with session_scope() as session:
        found = hosts.host_health(session, req.params["segment_id"], req.params["host_id"], limit)
    return _reply(200, {"health": found})


# ------------------------------------------------------------------ notifications


def notifications_index(req):
    policy.authorize(req.context, "notifications", "index")
    with session_scope() as session:
        return _reply(200, {"notifications": notifications.list_notifications(session, req.args)})


def notifications_create(req):
    notifications.validate_body(req.body)
    policy.authorize(req.context, "notifications", "create")
    created = notifications.create_notification(req.body["notification"], source="api")
    return _reply(202, {"notification": created})


def notifications_show(req):
    policy.authorize(req.context, "notifications", "detail")
    with session_scope() as session:
        found = notifications.get_notification(
            session, req.params["notification_id"], with_details=req.version >= (1, 1)
        )
    return _reply(200, {"notification": found})


# ------------------------------------------------------------------ vmoves


def vmoves_index(req):
    policy.authorize(req.context, "vmoves", "index")
    with session_scope() as session:
        found = vmoves.list_vmoves(session, req.params["notification_id"], req.args)
    return _reply(200, {"vmoves": found})


def vmoves_show(req):
    policy.authorize(req.context, "vmoves", "detail")
    with session_scope() as session:
        found = vmoves.get_vmove(session, req.params["notification_id"], req.params["vmove_id"])
    return _reply(200, {"vmove": found})
