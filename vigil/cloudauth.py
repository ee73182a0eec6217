"""Reach a Vigil (or Masakari) instance-ha API the way the openstack CLI does.

The cloud comes from clouds.yaml (``--os-cloud``, else ``OS_CLOUD``; the file from
``OS_CLIENT_CONFIG_FILE`` or openstacksdk's standard locations), the token from keystoneauth
(renewed by it when it nears expiry), and the endpoint from the catalog's ``instance-ha`` entry
unless ``--endpoint`` names one. Every failure is a :class:`CloudError` with one line to print.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

SERVICE_TYPE = "instance-ha"
MICROVERSION = f"{SERVICE_TYPE} 1.4"
TIMEOUT = 15.0


class CloudError(RuntimeError):
    """A clouds.yaml, credential or endpoint problem the user can fix; printed as one line."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def api_root(endpoint: str) -> str:
    """``http://h:15868/v1/<project>`` or ``http://h:15868/v1`` → ``http://h:15868``."""
    return re.sub(r"/v1(/.*)?$", "", endpoint.rstrip("/"))


@dataclass
class InstanceHA:
    """An authenticated way to the API: ``root`` (without ``/v1``) and a keystoneauth session."""

    root: str
    session: Any  # keystoneauth1.session.Session
    cloud: str

    def get(self, path: str, params: dict[str, Any] | None = None, version: str = MICROVERSION):
        """GET ``root + path`` with the token; raises CloudError when nothing answers."""
        try:
            return self.session.get(
                self.root + path,
                params=params,
                headers={"OpenStack-API-Version": version, "Accept": "application/json"},
                authenticated=True,
                raise_exc=False,
                timeout=TIMEOUT,
            )
        except Exception as exc:  # keystoneauth wraps connection trouble in many kinds
            raise CloudError(f"no answer from {self.root}: {_first_line(exc)}") from exc


def _cloud_region(cloud: str, config_file: str | None):
    from openstack import config as os_config

    named = config_file or os.environ.get("OS_CLIENT_CONFIG_FILE")
    if named and not Path(named).is_file():
        source = "" if config_file else "OS_CLIENT_CONFIG_FILE names "
        raise CloudError(f"clouds.yaml not found: {source}{named}")
    try:
        if config_file:
            config = os_config.OpenStackConfig(config_files=[config_file], load_envvars=False)
        else:
            config = os_config.OpenStackConfig()
        return config.get_one(cloud=cloud, api_timeout=TIMEOUT)
    except Exception as exc:  # a YAML error, an unknown cloud, a missing auth type …
        where = f" in {named}" if named else ""
        raise CloudError(f"clouds.yaml{where} is not usable: {_first_line(exc)}") from exc


def connect(
    cloud: str | None = None, endpoint: str | None = None, config_file: str | None = None
) -> InstanceHA:
    """Authenticate, find the endpoint and check that an instance-ha API answers there.

    ``config_file`` (``vigil dev``'s own clouds.yaml) replaces the standard locations.
    """
    cloud = cloud or os.environ.get("OS_CLOUD")
    if not cloud:
        raise CloudError("no cloud named: pass --os-cloud NAME or set OS_CLOUD")
    region = _cloud_region(cloud, config_file)
    session = region.get_session()
    try:
        session.get_token()
    except Exception as exc:
        raise CloudError(f"cloud {cloud!r} cannot authenticate: {_first_line(exc)}") from exc
    if not endpoint:
        try:
            endpoint = session.get_endpoint(
                service_type=SERVICE_TYPE,
                interface=region.get_interface(),
                region_name=region.get_region_name(SERVICE_TYPE),
            )
        except Exception as exc:
            raise CloudError(
                f"cloud {cloud!r}: no {SERVICE_TYPE} endpoint in the catalog "
                f"({_first_line(exc)}); pass --endpoint URL"
            ) from exc
        if not endpoint:
            raise CloudError(
                f"cloud {cloud!r}: the catalog lists no {SERVICE_TYPE} endpoint; pass --endpoint URL"
            )
    if not re.match(r"^https?://[^/]+", endpoint):
        raise CloudError(f"--endpoint {endpoint!r} is not an http(s) URL")
    api = InstanceHA(api_root(endpoint), session, cloud)
    reply = api.get("/v1")
    version = _json(reply).get("version") if reply.status_code == 200 else None
    if not isinstance(version, dict) or version.get("id") != "v1.0":
        raise CloudError(
            f"{api.root} is not an instance-ha API (GET /v1 answered {reply.status_code})"
        )
    return api


def _json(reply: requests.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def add_arguments(parser) -> None:
    """The openstack CLI's way of naming a cloud, plus an endpoint override."""
    parser.add_argument(
        "--os-cloud",
        default=None,
        help="clouds.yaml entry (default: OS_CLOUD); the file: OS_CLIENT_CONFIG_FILE or "
        "openstacksdk's standard locations",
    )
    parser.add_argument(
        "--endpoint",
        help="the instance-ha API URL (default: the catalog's instance-ha endpoint)",
    )
