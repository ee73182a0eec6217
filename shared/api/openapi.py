"""The OpenAPI 3.1 document, generated from the pydantic request and response models."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, create_model
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared import capacity, schemas
from shared.api import overview
from shared.api.microversions import MAX_VERSION, text
from shared.api.routes import endpoints


def _envelope(name: str, key: str, model: type[BaseModel], many: bool = False) -> type[BaseModel]:
    fields: dict[str, Any] = {key: (list[model] if many else model, ...)}  # type: ignore[valid-type]
    return create_model(name, **fields)


SegmentReply = _envelope("SegmentReply", "segment", schemas.SegmentView)
SegmentList = _envelope("SegmentList", "segments", schemas.SegmentView, many=True)
HostReply = _envelope("HostReply", "host", schemas.HostView)
HostList = _envelope("HostList", "hosts", schemas.HostView, many=True)
NotificationReply = _envelope("NotificationReply", "notification", schemas.NotificationDetailView)
NotificationList = _envelope(
    "NotificationList", "notifications", schemas.NotificationView, many=True
)
VMoveReply = _envelope("VMoveReply", "vmove", schemas.VMoveView)
VMoveList = _envelope("VMoveList", "vmoves", schemas.VMoveView, many=True)
HealthReply = _envelope("HealthReply", "health", schemas.HostHealthView)
CapacityReply = _envelope("CapacityReply", "capacity", capacity.CapacityView)

# endpoint → (request model, success status, response model)
OPERATIONS: dict[str, tuple[type[BaseModel] | None, int, type[BaseModel] | None]] = {
    "segments:index": (None, 200, SegmentList),
    "segments:create": (schemas.SegmentCreateRequestV12, 201, SegmentReply),
    "segments:show": (None, 200, SegmentReply),
    "segments:update": (schemas.SegmentUpdateRequestV12, 200, SegmentReply),
    "segments:delete": (None, 204, None),
    "segments:capacity": (None, 200, CapacityReply),
    "hosts:index": (None, 200, HostList),
    "hosts:create": (schemas.HostCreateRequest, 201, HostReply),
    "hosts:show": (None, 200, HostReply),
    "hosts:update": (schemas.HostUpdateRequest, 200, HostReply),
    "hosts:delete": (None, 204, None),
    "hosts:health": (None, 200, HealthReply),
    "notifications:index": (None, 200, NotificationList),
    "notifications:create": (schemas.NotificationCreateRequest, 202, NotificationReply),
    "notifications:show": (None, 200, NotificationReply),
    "vmoves:index": (None, 200, VMoveList),
    "vmoves:show": (None, 200, VMoveReply),
}

NOTES = {
    "segments:create": "`enabled` is accepted from microversion 1.2.",
    "segments:update": "`enabled` is accepted from microversion 1.2.",
    "notifications:show": "`recovery_workflow_details` is returned from microversion 1.1.",
    "hosts:health": "Vigil extension, microversion 1.4 or later: the monitor's settled view of the "
    "host and its latest health samples (newest first).",
    "segments:capacity": "Vigil extension, microversion 1.4 or later: whether the segment's "
    "other usable hosts and free reserved hosts can take the servers of its largest host "
    "(figures from Placement).",
    "versions": "The v1 version document (also under `/v1/{project_id}`).",
}
OPERATIONS.update(overview.OPERATIONS)
NOTES.update(overview.NOTES)
LIST_PARAMETERS = ["limit", "marker", "sort_key", "sort_dir"]
FILTERS = {
    "segments:index": ["recovery_method", "service_type", "enabled"],
    "hosts:index": ["type", "name", "reserved", "on_maintenance", "control_attributes"],
    "notifications:index": ["status", "type", "source_host_uuid", "generated-since"],
    "vmoves:index": ["status", "type"],
    "hosts:health": ["limit"],
    **overview.FILTERS,
}

FAULT = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
    },
}


def _parameters(path: str, endpoint: str) -> list[dict[str, Any]]:
    params = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for part in path.split("/")
        if part.startswith("{")
    ]
    query = (LIST_PARAMETERS if endpoint.endswith(":index") else []) + FILTERS.get(endpoint, [])
    params += [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in query
    ]
    params.append(
        {
            "name": "OpenStack-API-Version",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "example": f"instance-ha {text(MAX_VERSION)}"},
        }
    )
    return params


@lru_cache(maxsize=8)
def document(base_url: str) -> dict[str, Any]:
    used: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (op[0], "validation") for op in OPERATIONS.values() if op[0] is not None
    ]
    used += [(op[2], "serialization") for op in OPERATIONS.values() if op[2] is not None]
    _, defs = models_json_schema(used, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for template, method, endpoint, _route in endpoints():
        path = template.replace("<", "{").replace(">", "}")
        operation: dict[str, Any] = {
            "operationId": endpoint.replace(":", "_"),
            "description": NOTES.get(endpoint, ""),
            "parameters": _parameters(path, endpoint),
            "responses": {
                "default": {
                    "description": "Masakari fault",
                    "content": {"application/json": {"schema": FAULT}},
                }
            },
        }
        request_model, status, response_model = OPERATIONS.get(endpoint, (None, 200, None))
        if request_model is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{request_model.__name__}"}
                    }
                },
            }
        reply: dict[str, Any] = {"description": "success"}
        if response_model is not None:
            reply["content"] = {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{response_model.__name__}"}
                }
            }
        elif endpoint == "versions":
            reply["content"] = {"application/json": {"schema": {"type": "object"}}}
        operation["responses"][str(status)] = reply
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Vigil instance-ha API (Masakari API v1)", "version": text(MAX_VERSION)},
        "servers": [{"url": base_url}],
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}
            },
        },
        "security": [{"token": []}],
        "paths": paths,
    }
