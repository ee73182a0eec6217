"""The URL map: every route exists with and without ``/{project_id}`` (api.md §1).

Paths or methods not listed here get Masakari's plain-text 404; the methods Masakari's router
maps to a missing controller action are listed and answer 405 ``badMethod``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.routing import BaseConverter, Map, Rule

from shared.api import handlers, overview


class ProjectIdConverter(BaseConverter):
    """``{project_id}`` must match ``[0-9a-f-]+``; anything else is no route at all."""

    regex = r"[0-9a-f\-]+"


@dataclass(frozen=True)
class Route:
    handler: Callable
    min_version: tuple[int, int] = (1, 0)
    reads_body: bool = False


ROUTES: dict[str, Route] = {
    "versions": Route(handlers.version_v1),
    "extensions:index": Route(handlers.extensions_index),
    "extensions:show": Route(handlers.extensions_show),
    "segments:index": Route(handlers.segments_index),
    "segments:create": Route(handlers.segments_create, reads_body=True),
    "segments:show": Route(handlers.segments_show),
    "segments:update": Route(handlers.segments_update, reads_body=True),
    "segments:delete": Route(handlers.segments_delete),
    "segments:action": Route(handlers.bad_method("action")),
    "hosts:index": Route(handlers.hosts_index),
    "hosts:create": Route(handlers.hosts_create, reads_body=True),
    "hosts:show": Route(handlers.hosts_show),
    "hosts:update": Route(handlers.hosts_update, reads_body=True),
    "hosts:delete": Route(handlers.hosts_delete),
    "hosts:health": Route(handlers.hosts_health, min_version=(1, 4)),
    "notifications:index": Route(handlers.notifications_index),
    "notifications:create": Route(handlers.notifications_create, reads_body=True),
    "notifications:show": Route(handlers.notifications_show),
    "notifications:update": Route(handlers.bad_method("update")),
    "notifications:delete": Route(handlers.bad_method("delete")),
    "notifications:action": Route(handlers.bad_method("action")),
    "vmoves:index": Route(handlers.vmoves_index),
    "vmoves:show": Route(handlers.vmoves_show),
}

_RESOURCE_RULES = [
    ("/extensions", "GET", "extensions:index"),
    ("/extensions/<alias>", "GET", "extensions:show"),
    ("/segments", "GET", "segments:index"),
    ("/segments", "POST", "segments:create"),
    ("/segments/<segment_id>", "GET", "segments:show"),
    ("/segments/<segment_id>", "PUT", "segments:update"),
    ("/segments/<segment_id>", "DELETE", "segments:delete"),
    ("/segments/<segment_id>/action", "POST", "segments:action"),
    ("/segments/<segment_id>/hosts", "GET", "hosts:index"),
    ("/segments/<segment_id>/hosts", "POST", "hosts:create"),
    ("/segments/<segment_id>/hosts/<host_id>", "GET", "hosts:show"),
    ("/segments/<segment_id>/hosts/<host_id>", "PUT", "hosts:update"),
    ("/segments/<segment_id>/hosts/<host_id>", "DELETE", "hosts:delete"),
    ("/segments/<segment_id>/hosts/<host_id>/health", "GET", "hosts:health"),
    ("/notifications", "GET", "notifications:index"),
    ("/notifications", "POST", "notifications:create"),
    ("/notifications/<notification_id>", "GET", "notifications:show"),
    ("/notifications/<notification_id>", "PUT", "notifications:update"),
    ("/notifications/<notification_id>", "DELETE", "notifications:delete"),
    ("/notifications/<notification_id>/action", "POST", "notifications:action"),
    ("/notifications/<notification_id>/vmoves", "GET", "vmoves:index"),
    ("/notifications/<notification_id>/vmoves/<vmove_id>", "GET", "vmoves:show"),
]


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
    """(path template, method, endpoint, route) for the OpenAPI document."""
    return [("/v1/", "GET", "versions", ROUTES["versions"])] + [
        (f"/v1{path}", method, endpoint, ROUTES[endpoint])
        for path, method, endpoint in _RESOURCE_RULES
    ]
