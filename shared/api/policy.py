"""Policy with oslo.policy: Masakari's rule names, admin-only defaults (api.md §2).

Operators override rules with an oslo.policy YAML/JSON file named by ``VIGIL_POLICY_FILE``;
the file is re-read when it changes.
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
    "segments": ("index", "detail", "create", "update", "delete"),
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


def enforcer() -> policy.Enforcer:
    global _enforcer
    with _lock:
        if _enforcer is None:
            conf = cfg.ConfigOpts()
            conf([], project="vigil", default_config_files=[])
            path = get_settings().policy_file
            if path and not os.path.exists(path):
                raise RuntimeError(f"VIGIL_POLICY_FILE {path} does not exist")
            created = policy.Enforcer(
                conf, policy_file=os.path.abspath(path) if path else None, use_conf=True
            )
            created.register_defaults(defaults())
            _enforcer = created
        return _enforcer


def reset() -> None:
    global _enforcer
    with _lock:
        _enforcer = None


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
