"""Recovery test wiring: a simulated region, Vigil settings for speed, the served function."""

from __future__ import annotations

import pytest

from shared.clients import reset_clients
from shared.settings import get_settings
from tests.recover.broker import Broker
from tests.servers import serve_function

FAST = {
    "VIGIL_VERIFY_INTERVAL": "0.02",
    "VIGIL_RECOVERY_LEASE_SECONDS": "3",
    "VIGIL_RECOVERY_HEARTBEAT_SECONDS": "0.3",
    "VIGIL_WAIT_PERIOD_AFTER_EVACUATION": "15",
    "VIGIL_WAIT_PERIOD_AFTER_POWER_OFF": "10",
    "VIGIL_WAIT_PERIOD_AFTER_POWER_ON": "10",
    "VIGIL_WAIT_PERIOD_AFTER_SERVICE_UPDATE": "10",
    "VIGIL_NOVA_REQUEST_TIMEOUT": "5",
    "VIGIL_HOST_FAILURE_RECOVERY_THREADS": "8",
    "VIGIL_PROCESS_UNFINISHED_NOTIFICATIONS_INTERVAL": "1",
    "VIGIL_RETRY_NOTIFICATION_NEW_STATUS_INTERVAL": "0",
    "VIGIL_CHECK_EXPIRED_NOTIFICATIONS_INTERVAL": "1",
}


def configure(monkeypatch, region, broker: Broker | None = None, **overrides: str) -> None:
    """Point Vigil at the region and the broker; fast intervals; fresh settings and clients."""
    monkeypatch.setenv("VIGIL_CLOUDS_YAML", region.clouds_yaml)
    monkeypatch.setenv("VIGIL_CLOUD", region.cloud_name)
    monkeypatch.delenv("K_SINK", raising=False)
    if broker is not None:
        monkeypatch.setenv("VIGIL_SINK", broker.url)
    else:
        monkeypatch.delenv("VIGIL_SINK", raising=False)
    for name, value in {**FAST, **overrides}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_clients()


@pytest.fixture
def recover_fn():
    served = serve_function("recover")
    yield served
    served.stop()


@pytest.fixture
def broker(recover_fn):
    """Events go here; recovery triggers are forwarded to the served recover function."""
    b = Broker(target=recover_fn.url).start()
    yield b
    b.stop()


@pytest.fixture
def cloud(region_factory, monkeypatch, db, broker):
    """``cloud(**region_kwargs, env={...})`` → a region wired to Vigil and the broker."""

    def start(env=None, **kwargs):
        """``env``: extra VIGIL_* variables, or a function of the region returning them."""
        kwargs.setdefault("hosts", 6)
        kwargs.setdefault("time_scale", 200)
        region = region_factory(**kwargs)
        extra = env(region) if callable(env) else (env or {})
        configure(monkeypatch, region, broker, **extra)
        return region

    yield start
    get_settings.cache_clear()
    reset_clients()
