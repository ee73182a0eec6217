"""Policy with oslo.policy: Masakari's rule names, admin-only defaults (api.md §2).

Operators override rules with an oslo.policy YAML/JSON file named by ``VIGIL_POLICY_FILE``;
the file is re-read when it changes. oslo.policy would search its configuration directories
for the file (and ``policy.d``) on every check; here the rules are loaded once and the one
named file is only looked at again when its modification time changes.
"""

from __future__ import annotations

import os
import threading

from oslo_config import cfg
from oslo_policy import policy

from shared import errors
from shared.settings import get_settings

PREFIX = "os_masakari_api"
EXTENSION_ALIASES = ("extensions", "notifications", "os-hosts", "segments", "versions", "vmoves")
ACTIONS = {
    # `capacity` guards the microversion 1.4 failover capacity extension.
    "segments": ("index", "detail", "create", "update", "delete", "capacity"),
    # `health` guards the microversion 1.4 host health extension.
    "os-hosts": ("index", "detail", "create", "update", "delete", "health"),
    "notifications": ("index", "detail", "create"),
    "vmoves": ("index", "detail"),
    "extensions": ("index", "detail"),
    # Vigil's read-only dashboard extensions (shared/api/overview.py).
    "summary": ("detail",),
    "gate-decisions": ("index",),
    "dead-letters": ("index",),
}


def defaults() -> list[policy.RuleDefault]:
    rules = [
        policy.RuleDefault("context_is_admin", "role:admin"),
        policy.RuleDefault("admin_or_owner", "is_admin:True or project_id:%(project_id)s"),
        policy.RuleDefault("admin_api", "is_admin:True"),
        policy.RuleDefault(f"{PREFIX}:versions:index", "@"),
    ]
    for resource, actions in ACTIONS.items():
        rules += [policy.RuleDefault(f"{PREFIX}:{resource}:{a}", "rule:admin_api") for a in actions]
    rules += [
        policy.RuleDefault(f"{PREFIX}:{alias}:discoverable", "@") for alias in EXTENSION_ALIASES
    ]
    return rules


_lock = threading.Lock()
_enforcer: policy.Enforcer | None = None
_loaded_mtime: float | None = None


def _mtime(path: str | None) -> float | None:
    try:
        return os.stat(path).st_mtime if path else None
    except OSError:
        return None


def enforcer() -> policy.Enforcer:
    global _enforcer, _loaded_mtime
    with _lock:
        path = get_settings().policy_file
        if _enforcer is not None and _mtime(path) != _loaded_mtime:
            _enforcer = None
        if _enforcer is None:
            conf = cfg.ConfigOpts()
            conf([], project="vigil", default_config_files=[])
            if path and not os.path.exists(path):
                raise RuntimeError(f"VIGIL_POLICY_FILE {path} does not exist")
            created = policy.Enforcer(
                conf, policy_file=os.path.abspath(path) if path else None, use_conf=True
            )
            created.register_defaults(defaults())
            _loaded_mtime = _mtime(path)
            created.load_rules()
            created.use_conf = False
            _enforcer = created
        return _enforcer


def reset() -> None:
    global _enforcer, _loaded_mtime
    with _lock:
        _enforcer = None
        _loaded_mtime = None


def _creds(context) -> dict:
    creds = context.credentials()
    creds["is_admin"] = enforcer().authorize("context_is_admin", {}, creds, do_raise=False)
    return creds


def allowed(context, rule: str) -> bool:
    target = {"project_id": context.project_id, "user_id": context.user_id}
    return bool(enforcer().authorize(rule, target, _creds(context), do_raise=False))


def authorize(context, resource: str, action: str) -> None:
    """403 ``Policy doesn't allow <rule> to be performed.`` when denied."""
    rule = f"{PREFIX}:{resource}:{action}"
    if not allowed(context, rule):
        raise errors.Forbidden(action=rule)
