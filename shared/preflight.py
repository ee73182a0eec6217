"""What is checked before a function serves or a command runs: every ``VIGIL_*`` setting.

A mistake in the settings (a value of the wrong type, malformed flow JSON, a recovery step name
no entry point provides, a database URL that is not PostgreSQL) is reported when the process
starts, one line per problem naming the variable, instead of surfacing during a real failure.
Functions refuse to start (``check_at_start``); ``vigil`` commands print the lines and exit 2;
``vigil settings --check`` prints them all.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsError,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.redaction import hide_password
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

PREFIX = "VIGIL_"
FLOW_PARTS = ("pre", "main", "post")
POSTGRES_DRIVERS = ("postgresql", "postgres", "postgresql+pg8000")
# The exit status of a function that refuses to start (also what gunicorn treats as a fatal worker
# boot failure, were the app imported in a worker rather than preloaded).
WORKER_BOOT_ERROR = 3
_SECRET = re.compile(r"password|database_url", re.I)


class _EnvFrom(EnvSettingsSource):
    """The environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = {k.lower(): v for k, v in environ.items()}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._environ


def _settings_from(environ: Mapping[str, str]) -> Settings:
    class Probe(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (_EnvFrom(settings_cls, environ),)

    return Probe()


def _variable(loc: tuple[Any, ...], environ: Mapping[str, str]) -> str:
    """The variable an error location came from: the longest prefix of it that is set (a
    flow's JSON is one variable for the whole object)."""
    names = [str(part) for part in loc if not isinstance(part, int)]
    upper = {k.upper() for k in environ}
    for end in range(len(names), 0, -1):
        candidate = PREFIX + "__".join(names[:end]).upper()
        if candidate in upper:
            return candidate
    return PREFIX + "__".join(names).upper()


def _value_problem(error: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[str, str]:
    variable = _variable(tuple(error["loc"]), environ)
    given = next((v for k, v in environ.items() if k.upper() == variable), None)
    shown = "" if given is None or _SECRET.search(variable) else f" (got {given!r})"
    depth = variable.removeprefix(PREFIX).count("__") + 1
    inside = ".".join(str(part) for part in error["loc"][depth:])
    return variable, f"{variable}: {inside + ': ' if inside else ''}{error['msg']}{shown}"


def _unparsable(message: str, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The variables under the field a SettingsError names whose value is not JSON."""
    match = re.search(r'field "(\w+)"', message)
    field = PREFIX + (match.group(1).upper() if match else "")
    found = []
    for key, value in environ.items():
        if key.upper() == field or key.upper().startswith(field + "__"):
            try:
                json.loads(value)
            except ValueError as exc:
                found.append((key, f"{key.upper()}: not valid JSON ({exc})"))
    return found


def _flow_problems(settings: Settings) -> list[str]:
    from shared.recovery.steps import UnknownTask, load

    found = []
    flows: BaseModel = settings.taskflow_driver_recovery_flows
    for name in type(flows).model_fields:
        variable = f"{PREFIX}TASKFLOW_DRIVER_RECOVERY_FLOWS__{name.upper()}"
        flow = getattr(flows, name)
        extra = sorted(set(flow) - set(FLOW_PARTS))
        if extra:
            found.append(
                f"{variable}: unknown part(s) {', '.join(map(repr, extra))}; "
                f"use {', '.join(FLOW_PARTS)}"
            )
        for part in FLOW_PARTS:
            for step in flow.get(part) or []:
                try:
                    load(step)
                except UnknownTask as exc:
                    found.append(f"{variable}: {part} step {step!r}: {exc}")
    return found


def _database_problems(url: str | None) -> list[str]:
    if not url:
        return []
    variable = f"{PREFIX}DATABASE_URL"
    try:
        parsed = make_url(url)
    except ArgumentError:
        return [f"{variable}: not a database URL (e.g. postgresql://user:password@host/vigil)"]
    if parsed.drivername not in POSTGRES_DRIVERS:
        return [
            f"{variable}: {parsed.drivername}:// is not supported ({hide_password(url)}); "
            "Vigil stores its data in PostgreSQL: postgresql://user:password@host/vigil"
        ]
    return []


def problems(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every problem with the settings in ``environ`` (default: this process's), one line each,
    naming the variable; empty when all is well. Never contacts a server."""
    remaining = {
        k: v
        for k, v in (os.environ if environ is None else environ).items()
        if k.upper().startswith(PREFIX)
    }
    found: list[str] = []
    for _ in range(len(remaining) + 1):
        try:
            settings = _settings_from(remaining)
        except ValidationError as exc:
            dropped = False
            for error in exc.errors():
                variable, line = _value_problem(error, remaining)
                found.append(line)
                keys = [k for k in remaining if k.upper() == variable]
                for key in keys:
                    remaining.pop(key)
                dropped = dropped or bool(keys)
            if not dropped:
                return found
            continue
        except SettingsError as exc:
            culprits = _unparsable(str(exc), remaining)
            if not culprits:
                return [*found, f"{PREFIX}*: {exc}"]
            for key, line in culprits:
                found.append(line)
                remaining.pop(key)
            continue
        return found + _database_problems(settings.database_url) + _flow_problems(settings)
    return found


def check_at_start(function: str, needs_fencing: bool = False) -> None:
    """Refuse to serve with broken settings: log each problem, then stop the process the way
    gunicorn treats as fatal (the Revision never becomes Ready, the log says why).

    ``needs_fencing`` (the monitor): without a fencing choice every real failure would be
    reported unproven and ignored, silently, so that is a refusal too.
    """
    found = problems()
    if found:
        for line in found:
            log.error("%s: %s", function, line)
        log.error("%s: not started: %d settings problem(s) above", function, len(found))
        raise SystemExit(WORKER_BOOT_ERROR)
    if not needs_fencing:
        return
    from shared.power import FencingNotChosen, require_fencing_choice

    try:
        log.info("%s: fencing: %s", function, require_fencing_choice(get_settings()))
    except FencingNotChosen as exc:
        log.critical("%s refuses to start: %s", function, exc)
        raise SystemExit(WORKER_BOOT_ERROR) from None
