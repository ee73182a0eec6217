"""Real clients pointed at a simulated region through the files it writes."""

from __future__ import annotations

import openstack
import pytest
from openstack import config as os_config


def connect(region, cloud: str | None = None):
    """An openstacksdk Connection built from the region's clouds.yaml, as Vigil builds its own."""
    cloud_config = os_config.OpenStackConfig(config_files=[region.clouds_yaml]).get_one(
        cloud=cloud or region.cloud_name
    )
    return openstack.connection.Connection(config=cloud_config)


@pytest.fixture
def conn(region):
    connection = connect(region)
    yield connection
    connection.close()


@pytest.fixture
def member_conn(region):
    connection = connect(region, f"{region.cloud_name}-member")
    yield connection
    connection.close()
