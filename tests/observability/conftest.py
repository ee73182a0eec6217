"""Observability tests: the served api (for /metrics) beside the recovery wiring on the region."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

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
