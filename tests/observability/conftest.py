"""Observability tests: the served api (for /metrics) beside the recovery wiring on the region."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from shared.db import utcnow
from shared.models import VMove
from tests.api.conftest import Api, noauth, served  # noqa: F401  (fixtures)
from tests.recover.conftest import broker, cloud, recover_fn  # noqa: F401  (fixtures)


class Scrape:
    """One parsed /metrics answer: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = list(text_string_to_metric_families(text))

    def value(self, name: str, **labels: str) -> float | None:
        for family in self.families:
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return sample.value
        return None

    def samples(self, name: str) -> list:
        return [s for f in self.families for s in f.samples if s.name == name]

    def sample_names(self) -> set[str]:
        return {s.name for f in self.families for s in f.samples}


def scrape(url: str) -> Scrape:
    reply = requests.get(f"{url}/metrics", timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/plain")
    return Scrape(reply.text)


@pytest.fixture
def metrics(db, served, noauth):  # noqa: F811
    """``metrics()`` scrapes the served api once."""
    return lambda: scrape(served.url)


def evacuation(
    notification: str, status: str, seconds: float | None, name: str = "vm", ago: float = 1800
) -> VMove:
    """An evacuation vmove that started ``ago`` seconds back and took ``seconds`` (None: not
    ended)."""
    start = utcnow() - dt.timedelta(seconds=ago)
    return VMove(
        uuid=str(uuid.uuid4()),
        notification_uuid=notification,
        instance_uuid=str(uuid.uuid4()),
        instance_name=name,
        source_host="compute-000",
        type="evacuation",
        status=status,
        start_time=start,
        end_time=None if seconds is None else start + dt.timedelta(seconds=seconds),
        created_at=start,
    )
