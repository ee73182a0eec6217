"""Version discovery documents and the legacy extensions resource (api.md §4, §12)."""

from __future__ import annotations

from typing import Any

from shared import errors
from shared.api.microversions import MAX_VERSION, MIN_VERSION, text

UPDATED = "2016-07-01T11:33:21Z"
MEDIA_TYPES = [
    {"base": "application/json", "type": "application/vnd.openstack.masakari+json;version=1"}
]


def _base() -> dict[str, Any]:
    return {
        "id": "v1.0",
        "status": "CURRENT",
        "version": text(MAX_VERSION),
        "min_version": text(MIN_VERSION),
        "updated": UPDATED,
    }


def root(base_url: str) -> dict[str, Any]:
    doc = _base()
    doc["links"] = [{"rel": "self", "href": f"{base_url}/v1/"}]
    return {"versions": [doc]}


def v1(base_url: str) -> dict[str, Any]:
    doc = _base()
    doc["links"] = [
        {"rel": "self", "href": f"{base_url}/v1/"},
        {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
    ]
    doc["media-types"] = MEDIA_TYPES
    return {"version": doc}


def choices(base_url: str, path: str) -> dict[str, Any]:
    """Masakari appends the requested path to ``<base>/v1/`` (kept, §4)."""
    return {
        "choices": [
            {
                "id": "v1.0",
                "status": "CURRENT",
                "links": [{"rel": "self", "href": f"{base_url}/v1/{path.lstrip('/')}"}],
                "media-types": MEDIA_TYPES,
            }
        ]
    }


EXTENSIONS = {
    "extensions": ("Extensions", "Extension information."),
    "notifications": ("Notifications", "Notifications support."),
    "os-hosts": ("Hosts", "Hosts controller"),
    "segments": ("Segments", "Segments Extension."),
    "versions": ("Versions", "API Version information."),
    "vmoves": ("VMoves", "VM moves support."),
}


def extension(alias: str) -> dict[str, Any]:
    if alias not in EXTENSIONS:
        raise errors.NotFound("The resource could not be found.")
    name, description = EXTENSIONS[alias]
    return {
        "name": name,
        "alias": alias,
        "description": description,
        "namespace": "",
        "updated": "",
        "links": [],
    }
