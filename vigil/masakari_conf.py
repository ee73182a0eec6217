"""``vigil settings --from-masakari-conf``: the ``VIGIL_*`` environment a masakari.conf means.

Vigil keeps Masakari's option names (shared/settings.py), so most options map by name: a
``[DEFAULT]`` option to a top-level setting, ``[section] option`` to ``VIGIL_SECTION__OPTION``.
A few are renamed or re-spelled; the rest have no job in Vigil and are listed with the reason.
"""

from __future__ import annotations

import configparser
import json
import shlex
import sys
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from shared.settings import Settings

PROG = "vigil settings --from-masakari-conf"

# (section, option) → Vigil's field path, where the name differs from the settings model's.
RENAMED: dict[tuple[str, str], tuple[str, ...]] = {
    ("oslo_policy", "policy_file"): ("policy_file",),
    ("oslo_middleware", "max_request_body_size"): ("max_request_body_size",),
}
# Masakari spells these differently from Vigil.
AUTH_STRATEGIES = {"keystone": "keystone", "noauth2": "noauth"}

_NOVA = (
    "Vigil calls Nova with the clouds.yaml entry named by VIGIL_CLOUD: put these credentials there"
)
_RPC = "no oslo.messaging: the api publishes CloudEvents to the Knative Broker"
_SERVER = "Knative serves the functions (port, workers, TLS are the Service's and the ingress's)"
_LOGS = "functions log to stdout for the cluster's log collection"
IGNORED_SECTIONS = {
    "database": "Vigil's database is PostgreSQL (VIGIL_DATABASE_URL); Masakari's is the source "
    "of `vigil db import-masakari --from`",
    "taskflow": "no taskflow persistence: recovery progress is kept in Vigil's own tables",
    "keystone_authtoken": "Vigil validates tokens with its own service identity from clouds.yaml "
    "(VIGIL_CLOUD, VIGIL_CLOUDS_YAML)",
    "coordination": "not used: recoveries are serialised by database locks",
    "oslo_messaging_rabbit": _RPC,
    "oslo_messaging_notifications": _RPC + "; every change is an event (events.md)",
    "oslo_messaging_kafka": _RPC,
    "oslo_concurrency": "no external lock files: locks live in the database",
    "cors": "not served: set CORS on the ingress if a browser must call the API",
    "healthcheck": "Knative probes the functions itself",
    "wsgi": _SERVER,
    "ssl": _SERVER,
    "osapi_v1": "every Masakari v1 extension is always loaded",
}
IGNORED_DEFAULTS = {
    "transport_url": _RPC,
    "rpc_response_timeout": _RPC,
    "control_exchange": _RPC,
    "masakari_topic": _RPC,
    "notification_driver": _RPC,
    "notification_delay_max": "not used (api.md §13 #7)",
    "periodic_fuzzy_delay": "not used: the PingSource schedule sets the cadence",
    "periodic_interval_max": "not used: the PingSource schedule sets the cadence",
    "periodic_enable": "not used: the PingSource schedule sets the cadence",
    "report_interval": "no service records: Knative tracks the functions",
    "service_down_time": "no service records: Knative tracks the functions",
    "engine_manager": "the recover function is the engine",
    "host": "not used: functions have no host identity",
    "masakari_api_listen": _SERVER,
    "masakari_api_listen_port": _SERVER,
    "masakari_api_workers": _SERVER,
    "use_ssl": _SERVER,
    "api_paste_config": _SERVER,
    "nova_catalog_admin_info": _NOVA,
    "os_region_name": _NOVA,
    "nova_ca_certificates_file": _NOVA,
    "nova_api_insecure": _NOVA,
    "os_privileged_user_name": _NOVA,
    "os_privileged_user_password": _NOVA,
    "os_privileged_user_tenant": _NOVA,
    "os_privileged_user_auth_url": _NOVA,
    "os_user_domain_name": _NOVA,
    "os_project_domain_name": _NOVA,
    "os_system_scope": _NOVA,
    "fatal_exception_format_errors": "development option of Masakari's exception formatting",
    "state_path": "no local state: everything is in the database",
    "pybasedir": "no local state: everything is in the database",
    "bindir": "no local state: everything is in the database",
    "debug": _LOGS,
    "log_dir": _LOGS,
    "log_file": _LOGS,
    "log_config_append": _LOGS,
    "log_date_format": _LOGS,
    "use_syslog": _LOGS,
    "use_journal": _LOGS,
    "use_stderr": _LOGS,
    "default_log_levels": _LOGS,
    "logging_context_format_string": _LOGS,
    "logging_default_format_string": _LOGS,
}


class ConfError(Exception):
    """The file cannot be translated; the message says which option and why."""


def _is_group(field) -> bool:
    return isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)


def _field(path: tuple[str, ...]):
    """The settings field at ``path`` (a group name, then an option), or None."""
    model: type[BaseModel] = Settings
    for part in path[:-1]:
        group = model.model_fields.get(part)
        if group is None or not _is_group(group):
            return None
        model = group.annotation  # type: ignore[assignment]  # a group, checked above
    field = model.model_fields.get(path[-1])
    return None if field is None or _is_group(field) else field


def _flow(value: str) -> dict[str, list[str]]:
    """oslo's Dict-of-List syntax (``pre:['a'],main:['b'],post:[]``) to Vigil's JSON."""
    from oslo_config import types

    parse = types.Dict(
        bounds=False, value_type=types.List(bounds=True, item_type=types.String(quotes=True))
    )
    return parse(value)


def _value(section: str, option: str, raw: str, field) -> Any:
    kind = field.annotation
    if option == "auth_strategy":
        if raw not in AUTH_STRATEGIES:
            raise ConfError(
                f"[{section}] auth_strategy = {raw}: Vigil knows {', '.join(AUTH_STRATEGIES)}"
            )
        return AUTH_STRATEGIES[raw]
    if section == "taskflow_driver_recovery_flows":
        try:
            return _flow(raw)
        except ValueError as exc:
            raise ConfError(f"[{section}] {option} = {raw}: {exc}") from exc
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ConfError(f"[{section}] {option} = {raw}: not a boolean")
    return raw


def translate(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """``({VIGIL_*: value}, [(section, option, why ignored)])`` for a masakari.conf's text."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, default_section="\0")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise ConfError(f"not an INI file: {exc.message.splitlines()[0]}") from exc
    kept: dict[tuple[str, ...], Any] = {}
    ignored: list[tuple[str, str, str]] = []
    for section in parser.sections():
        for option, raw in parser.items(section, raw=True):
            path: tuple[str, ...] = RENAMED.get((section, option)) or (
                (option,) if section == "DEFAULT" else (section, option)
            )
            field = _field(path)
            if field is not None:
                kept[path] = _value(section, option, raw, field)
            elif section in IGNORED_SECTIONS:
                ignored.append((section, option, IGNORED_SECTIONS[section]))
            elif section == "DEFAULT" and option in IGNORED_DEFAULTS:
                ignored.append((section, option, IGNORED_DEFAULTS[option]))
            else:
                ignored.append((section, option, "not an option Vigil knows"))
    nested: dict[str, Any] = {}
    for path, value in kept.items():
        target = nested
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    try:
        Settings.model_validate(nested)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfError(f"{where}: {first['msg']} (got {first.get('input')!r})") from exc
    env = {}
    for path, value in kept.items():
        shown = (
            json.dumps(value)
            if isinstance(value, dict)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )
        env["VIGIL_" + "__".join(p.upper() for p in path)] = shown
    return env, ignored


def environment(env: dict[str, str], ignored: list[tuple[str, str, str]]) -> str:
    lines = [f"{name}={shlex.quote(value)}" for name, value in env.items()]
    lines += [f"# ignored: [{s}] {o}: {why}" for s, o, why in ignored]
    return "\n".join(lines)


def configmap(env: dict[str, str], ignored: list[tuple[str, str, str]]) -> str:
    """A ConfigMap for infra/knative/ (merge it into vigil-config in config.yaml)."""
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "vigil-config", "namespace": "vigil"},
        "data": env,
    }
    head = ["# Settings translated from masakari.conf by `vigil settings --from-masakari-conf`."]
    head += [f"# ignored: [{s}] {o}: {why}" for s, o, why in ignored]
    return "\n".join(head) + "\n" + yaml.safe_dump(document, sort_keys=False, width=1000).rstrip()


def add_arguments(parser) -> None:
    parser.add_argument(
        "--from-masakari-conf",
        metavar="FILE",
        help="print the VIGIL_* settings that reproduce a masakari.conf, and what it ignores",
    )
    parser.add_argument(
        "--format",
        choices=("env", "configmap"),
        default="env",
        help="with --from-masakari-conf: environment lines, or a ConfigMap for infra/knative/",
    )


def run(args) -> int:
    try:
        with open(args.from_masakari_conf, encoding="utf-8") as source:
            text = source.read()
        env, ignored = translate(text)
    except OSError as exc:
        print(f"{PROG}: cannot read {args.from_masakari_conf}: {exc.strerror}", file=sys.stderr)
        return 1
    except ConfError as exc:
        print(f"{PROG}: {args.from_masakari_conf}: {exc}", file=sys.stderr)
        return 1
    print(configmap(env, ignored) if args.format == "configmap" else environment(env, ignored))
    return 0
