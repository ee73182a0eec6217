"""Who is calling: Keystone token validation (with a cache) or the development ``noauth`` mode.

Tokens are validated with Vigil's own service credentials (the clouds.yaml entry also used for
Nova): ``GET /v3/auth/tokens`` with ``X-Subject-Token`` through the keystoneauth session, parsed
by ``keystoneauth1.access``. A validation is cached for ``VIGIL_TOKEN_CACHE_SECONDS`` but never
past the token's own expiry.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

from shared import errors
from shared.settings import get_settings

log = logging.getLogger(__name__)

# noauth without X-Project-Id or a user:project token: a fixed development project (hex, so the
# /v1/{project_id}/... routes can name it).
DEV_PROJECT = "00000000000000000000000000000000"
DEV_USER = "admin"
_CACHE_MAX = 10000


@dataclass
class Context:
    user_id: str | None
    project_id: str | None
    roles: list[str] = field(default_factory=list)
    request_id: str = ""

    def credentials(self) -> dict:
        return {"user_id": self.user_id, "project_id": self.project_id, "roles": self.roles}


class TokenCache:
    """token → (Context, valid-until monotonic time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[Context, float]] = {}

    def get(self, token: str) -> Context | None:
        with self._lock:
            item = self._items.get(token)
            if item is None:
                return None
            if item[1] <= time.monotonic():
                del self._items[token]
                return None
            return item[0]

    def put(self, token: str, context: Context, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            if len(self._items) >= _CACHE_MAX:
                now = time.monotonic()
                self._items = {k: v for k, v in self._items.items() if v[1] > now}
                if len(self._items) >= _CACHE_MAX:
                    self._items.clear()
            self._items[token] = (context, time.monotonic() + seconds)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


cache = TokenCache()
_warned = False


def warn_if_noauth() -> None:
    """Logged once per process when the api runs without Keystone."""
    global _warned
    if get_settings().auth_strategy == "noauth" and not _warned:
        _warned = True
        log.warning(
            "VIGIL_AUTH_STRATEGY=noauth: tokens are NOT validated and every caller is admin. "
            "Development only."
        )


def _noauth(headers) -> Context:
    token = headers.get("X-Auth-Token") or ""
    user, sep, token_project = token.partition(":")
    project = headers.get("X-Project-Id") or (
        token_project if sep and token_project else DEV_PROJECT
    )
    return Context(
        user_id=(user if sep and user else DEV_USER), project_id=project, roles=["admin"]
    )


def _identity_tokens_url(session) -> str:
    base = session.auth.auth_url.rstrip("/")
    if not base.endswith("/v3"):
        base += "/v3"
    return base + "/auth/tokens"


def _validate_with_keystone(token: str) -> tuple[Context, float]:
    from keystoneauth1 import access
    from keystoneauth1 import exceptions as ks_exc

    from shared import clients

    try:
        session = clients.openstack_connection().session
        response = session.get(
            _identity_tokens_url(session),
            headers={"X-Subject-Token": token},
            authenticated=True,
            raise_exc=False,
            timeout=get_settings().api_upstream_timeout,
        )
    except clients.CloudConfigError as exc:
        log.error("cannot validate tokens: %s", exc)
        raise errors.ServiceUnavailable(service="Identity service (Keystone)") from None
    except ks_exc.ClientException as exc:
        log.warning("Keystone unreachable while validating a token: %s", exc)
        raise errors.ServiceUnavailable(service="Identity service (Keystone)") from None
    if response.status_code in (401, 403, 404):
        raise errors.Unauthorized()
    if response.status_code != 200:
        log.warning("Keystone answered %s while validating a token", response.status_code)
        raise errors.ServiceUnavailable(service="Identity service (Keystone)")
    info = access.create(resp=response)
    context = Context(
        user_id=info.user_id, project_id=info.project_id, roles=list(info.role_names or [])
    )
    ttl = float(get_settings().token_cache_seconds)
    if info.expires is not None:
        remaining = (info.expires - dt.datetime.now(dt.UTC)).total_seconds()
        if remaining <= 0:
            raise errors.Unauthorized()
        ttl = min(ttl, remaining)
    return context, ttl


def authenticate(headers) -> Context:
    """The caller's context; raises 401 (missing, invalid or user-less token) or 503."""
    if get_settings().auth_strategy == "noauth":
        return _noauth(headers)
    token = headers.get("X-Auth-Token")
    if not token:
        raise errors.Unauthorized()
    context = cache.get(token)
    if context is None:
        context, ttl = _validate_with_keystone(token)
        if not context.user_id:
            raise errors.Unauthorized()
        cache.put(token, context, ttl)
    return Context(context.user_id, context.project_id, list(context.roles))
