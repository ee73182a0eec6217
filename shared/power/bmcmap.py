"""Where each host's BMC is and how to log in to it: the BMC map file and the URL template.

The map is YAML: ``defaults`` for every host, ``groups`` matching host names by glob (an
``address`` may hold ``{host}``), and ``hosts`` entries by exact name; a host's entry overrides
its first matching group, which overrides the defaults. Credentials are a folder holding the
files ``username`` and ``password`` — a Kubernetes Secret mounted as a volume — read at each use,
so a rotated Secret needs no restart.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.power.errors import PowerError
from shared.settings import Fencing

Driver = Literal["redfish", "ipmi"]


class MapEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    driver: Driver | None = None
    address: str | None = Field(
        None, description="redfish: BMC URL (https://bmc); ipmi: host or host:port"
    )
    system: str | None = Field(None, description="redfish: system path; unset: the BMC's only one")
    credentials: str | None = Field(None, description="folder with `username` and `password`")
    verify: bool | str | None = Field(None, description="redfish TLS: true, false or a CA file")
    auth: Literal["auto", "basic", "session"] | None = None


class MapGroup(MapEntry):
    name: str
    hosts: list[str] = Field(min_length=1, description="host name globs")


class MapFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: MapEntry = Field(default_factory=MapEntry)
    groups: list[MapGroup] = Field(default_factory=list)
    hosts: dict[str, MapEntry] = Field(default_factory=dict)


@dataclass(frozen=True)
class Bmc:
    """One host's BMC, resolved: everything a driver needs to reach it."""

    host: str
    driver: str
    address: str
    system: str | None
    username: str | None
    password: str | None
    verify: bool | str
    auth: str

    def describe(self) -> str:
        """Driver and address, never the password (for logs and progress rows)."""
        where = f"{self.address}{self.system or ''}" if self.driver == "redfish" else self.address
        return f"{self.driver} {where}"


def load_map(path: str) -> MapFile:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise PowerError(f"BMC map {path} cannot be read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise PowerError(f"BMC map {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    try:
        return MapFile.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PowerError(f"BMC map {path}: {where}: {first['msg']}") from exc


def _read_credentials(folder: str) -> tuple[str, str]:
    try:
        username = (Path(folder) / "username").read_text().strip()
        password = (Path(folder) / "password").read_text().rstrip("\n")
    except OSError as exc:
        raise PowerError(
            f"BMC credentials folder {folder} needs files `username` and `password`: "
            f"{exc.strerror or exc}"
        ) from exc
    return username, password


def _split_system_url(url: str) -> tuple[str, str]:
    """``https://bmc/redfish/v1/Systems/1`` → (``https://bmc``, ``/redfish/v1/Systems/1``)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc or "/redfish/v1/" not in parts.path:
        raise PowerError(f"{url} is not a Redfish system URL (…/redfish/v1/Systems/<id>)")
    prefix = parts.path[: parts.path.index("/redfish/v1/")]
    return f"{parts.scheme}://{parts.netloc}{prefix}", parts.path[len(prefix) :]


class BmcDirectory:
    """Looks hosts up in the map, then in the URL template."""

    def __init__(self, cfg: Fencing):
        self.cfg = cfg
        self.map = load_map(cfg.bmc_map_file) if cfg.bmc_map_file else None
        template = cfg.redfish_url_template
        if template is not None and "{host}" not in template:
            raise PowerError(
                "VIGIL_FENCING__REDFISH_URL_TEMPLATE must contain '{host}', e.g. "
                "https://bmc-{host}.example/redfish/v1/Systems/1"
            )
        if self.map is None and template is None:
            raise PowerError(
                f"fencing driver {cfg.driver} needs VIGIL_FENCING__BMC_MAP_FILE or "
                "VIGIL_FENCING__REDFISH_URL_TEMPLATE"
            )

    def _merged(self, host: str) -> MapEntry | None:
        if self.map is None:
            return None
        layers = [self.map.defaults]
        group = next(
            (g for g in self.map.groups if any(fnmatch.fnmatchcase(host, p) for p in g.hosts)),
            None,
        )
        if group is not None:
            layers.append(group)
        if host in self.map.hosts:
            layers.append(self.map.hosts[host])
        if len(layers) == 1:
            return None
        merged: dict = {}
        for layer in layers:
            merged.update(layer.model_dump(include=set(MapEntry.model_fields), exclude_none=True))
        return MapEntry.model_validate(merged)

    def lookup(self, host: str) -> Bmc:
        entry = self._merged(host)
        if entry is not None:
            return self._from_entry(host, entry)
        if self.cfg.redfish_url_template:
            address, system = _split_system_url(self.cfg.redfish_url_template.format(host=host))
            return Bmc(
                host,
                "redfish",
                address,
                system,
                self.cfg.redfish_username,
                self.cfg.redfish_password,
                True,
                "auto",
            )
        raise PowerError(f"host {host} has no entry in the BMC map {self.cfg.bmc_map_file}")

    def _from_entry(self, host: str, entry: MapEntry) -> Bmc:
        driver = entry.driver or self.cfg.driver
        if driver not in ("redfish", "ipmi"):
            raise PowerError(f"BMC map entry of host {host} names no driver (redfish or ipmi)")
        if not entry.address:
            raise PowerError(f"BMC map entry of host {host} has no address")
        username = password = None
        if entry.credentials:
            username, password = _read_credentials(entry.credentials.format(host=host))
        return Bmc(
            host,
            driver,
            entry.address.format(host=host).rstrip("/"),
            entry.system.format(host=host) if entry.system else None,
            username,
            password,
            True if entry.verify is None else entry.verify,
            entry.auth or "auto",
        )
