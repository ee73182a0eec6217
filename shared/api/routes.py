"""The URL map: every route exists with and without ``/{project_id}`` (api.md §1).

Paths or methods not listed here get Masakari's plain-text 404; the methods Masakari's router
maps to a missing controller action are listed and answer 405 ``badMethod``. A format suffix
(``/v1/segments.json``) is taken off by the pipeline before matching, as Masakari's router does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.routing import BaseConverter, Map, Rule

from shared import capacity
from shared.api import handlers, overview


class ProjectIdConverter(BaseConverter):
    """``{project_id}`` must match ``[0-9a-f-]+``; anything else is no route at all."""

    regex = r"[0-9a-f\-]+"


@dataclass(frozen=True)
class Route:
    handler: Callable
    min_version: tuple[int, int] = (1, 0)
    reads_body: bool = False


@dataclass(frozen=True)
class Resource:
    """One resource as Masakari's router maps it: the seven standard actions of a routes
    ``Mapper.resource`` (index, create, new, show, update, delete, edit) plus declared member
    actions. An action the controller lacks answers 405 ``badMethod`` naming it."""

    name: str
    collection: str
    member: str
    handlers: dict[str, Route]
    member_actions: tuple[str, ...] = ()


def _resources() -> list[Resource]:
    return [
        Resource(
            "extensions",
            "/extensions",
            "/extensions/<alias>",
            {
                "index": Route(handlers.extensions_index),
                "show": Route(handlers.extensions_show),
            },
        ),
        Resource(
            "segments",
            "/segments",
            "/segments/<segment_id>",
            {
                "index": Route(handlers.segments_index),
                "create": Route(handlers.segments_create, reads_body=True),
                "show": Route(handlers.segments_show),
                "update": Route(handlers.segments_update, reads_body=True),
                "delete": Route(handlers.segments_delete),
            },
            member_actions=("action",),
        ),
        Resource(
            "hosts",
            "/segments/<segment_id>/hosts",
            "/segments/<segment_id>/hosts/<host_id>",
            {
                "index": Route(handlers.hosts_index),
                "create": Route(handlers.hosts_create, reads_body=True),
                "show": Route(handlers.hosts_show),
                "update": Route(handlers.hosts_update, reads_body=True),
                "delete": Route(handlers.hosts_delete),
            },
        ),
        Resource(
            "notifications",
            "/notifications",
            "/notifications/<notification_id>",
            {
                "index": Route(handlers.notifications_index),
                "create": Route(handlers.notifications_create, reads_body=True),
                "show": Route(handlers.notifications_show),
            },
            member_actions=("action",),
        ),
        Resource(
            "vmoves",
            "/notifications/<notification_id>/vmoves",
            "/notifications/<notification_id>/vmoves/<vmove_id>",
            {"index": Route(handlers.vmoves_index), "show": Route(handlers.vmoves_show)},
        ),
    ]


def _standard(resource: Resource) -> list[tuple[str, str, str]]:
    """(path, method, action) for every route Masakari's router maps for ``resource``."""
    collection, member = resource.collection, resource.member
    routes = [
        (collection, "GET", "index"),
        (collection, "POST", "create"),
        (f"{collection}/new", "GET", "new"),
        (member, "GET", "show"),
        (member, "PUT", "update"),
        (member, "DELETE", "delete"),
        (f"{member}/edit", "GET", "edit"),
    ]
    return routes + [(f"{member}/{action}", "POST", action) for action in resource.member_actions]


ROUTES: dict[str, Route] = {"versions": Route(handlers.version_v1)}
_RESOURCE_RULES: list[tuple[str, str, str]] = []
# Served in no Masakari release: the microversion 1.4 host health extension.
ROUTES["hosts:health"] = Route(handlers.hosts_health, min_version=(1, 4))
for _resource in _resources():
    for _path, _method, _action in _standard(_resource):
        _endpoint = f"{_resource.name}:{_action}"
        ROUTES[_endpoint] = _resource.handlers.get(_action) or Route(handlers.bad_method(_action))
        _RESOURCE_RULES.append((_path, _method, _endpoint))
_RESOURCE_RULES.append(("/segments/<segment_id>/hosts/<host_id>/health", "GET", "hosts:health"))
# Vigil's own failover-capacity view (microversion 1.4), beside the host health extension.
ROUTES["segments:capacity"] = Route(capacity.capacity_handler, min_version=(1, 4))
_RESOURCE_RULES.append(("/segments/<segment_id>/capacity", "GET", "segments:capacity"))


# Vigil's read-only extensions for the dashboard (microversion 1.4), kept in their own module.
for _path, _method, _endpoint, _handler in overview.ENDPOINTS:
    ROUTES[_endpoint] = Route(_handler, min_version=(1, 4))
    _RESOURCE_RULES.append((_path, _method, _endpoint))


def _rules() -> list[Rule]:
    # The version document also answers under a project id, for catalogs that list
    # `<base>/v1/$(tenant_id)s` (keystoneauth fetches the endpoint itself first).
    rules = [
        Rule("/v1", methods=["GET"], endpoint="versions"),
        Rule("/v1/<project:project_id>", methods=["GET"], endpoint="versions"),
    ]
    for path, method, endpoint in _RESOURCE_RULES:
        rules.append(Rule(f"/v1{path}", methods=[method], endpoint=endpoint))
        rules.append(Rule(f"/v1/<project:project_id>{path}", methods=[method], endpoint=endpoint))
    return rules


url_map = Map(
    _rules(), converters={"project": ProjectIdConverter}, strict_slashes=False, merge_slashes=False
)


def endpoints() -> list[tuple[str, str, str, Route]]:
    """(path template, method, endpoint, route) of the served operations, for the OpenAPI
    document (the 405 answers are left out)."""
    return [("/v1/", "GET", "versions", ROUTES["versions"])] + [
        (f"/v1{path}", method, endpoint, ROUTES[endpoint])
        for path, method, endpoint in _RESOURCE_RULES
        if not getattr(ROUTES[endpoint].handler, "bad_method", False)
    ]
