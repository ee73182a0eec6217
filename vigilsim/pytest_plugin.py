"""pytest fixtures that start a simulated region: ``region_factory`` and ``region``."""

from __future__ import annotations

import pytest

from vigilsim.region import Region


@pytest.fixture
def region_factory(tmp_path_factory):
    """``region_factory(hosts=..., **kw)`` starts a Region (files in a fresh tmp dir), stopped at test end."""
    started: list[Region] = []

    def start(hosts=8, **kwargs) -> Region:
        kwargs.setdefault("workdir", str(tmp_path_factory.mktemp("vigilsim")))
        region = Region.start(hosts=hosts, **kwargs)
        started.append(region)
        return region

    yield start
    for region in started:
        region.stop()


@pytest.fixture
def region(region_factory) -> Region:
    """Eight hosts (compute-000..compute-007), no servers, cloud time 100× real time."""
    return region_factory(hosts=8, time_scale=100)
