"""One openstacksdk connection and one Kubernetes API client per process (recovery.md §15.4).

Vigil always acts with its own service identity (a clouds.yaml entry), never the caller's token.
The keystoneauth session behind the connection refreshes its token near expiry and is shared by
every thread, so evacuation workers reuse one authenticated, pooled HTTP session.
"""

from __future__ import annotations

import os
import threading

from shared.settings import get_settings

_lock = threading.Lock()
_nova = None
_kube = None


class CloudConfigError(RuntimeError):
    """clouds.yaml or kubeconfig missing or unusable; the message names the file and entry."""


def _clouds_yaml() -> str | None:
    return get_settings().clouds_yaml or os.environ.get("OS_CLIENT_CONFIG_FILE")


def openstack_connection():
    """The process-wide openstacksdk Connection for Vigil's cloud entry."""
    global _nova
    with _lock:
        if _nova is None:
            import openstack
            from openstack import config as os_config

            settings = get_settings()
            path = _clouds_yaml()
            files = [path] if path else None
            if path and not os.path.exists(path):
                raise CloudConfigError(f"clouds.yaml not found: {path}")
            try:
                region = os_config.OpenStackConfig(config_files=files).get_one(cloud=settings.cloud)
            except Exception as exc:  # openstacksdk raises several config exception types
                raise CloudConfigError(
                    f"cloud '{settings.cloud}' not usable from {path or 'the default clouds.yaml'}: {exc}"
                ) from exc
            _nova = openstack.connection.Connection(config=region)
        return _nova


def kubernetes_client():
    """The process-wide Kubernetes ApiClient: a kubeconfig when configured, else in-cluster."""
    global _kube
    with _lock:
        if _kube is None:
            from kubernetes import client, config

            path = get_settings().kubernetes.kubeconfig or os.environ.get("KUBECONFIG")
            try:
                if path:
                    _kube = config.new_client_from_config(config_file=path)
                else:
                    configuration = client.Configuration()
                    config.load_incluster_config(client_configuration=configuration)
                    _kube = client.ApiClient(configuration)
            except Exception as exc:
                raise CloudConfigError(
                    f"kubeconfig not usable ({path or 'in-cluster'}): {exc}"
                ) from exc
        return _kube


def reset_clients() -> None:
    """Forget cached clients (tests switch regions; settings changed)."""
    global _nova, _kube
    with _lock:
        _nova = None
        _kube = None
