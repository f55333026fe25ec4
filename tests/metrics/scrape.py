"""Reading a Prometheus endpoint in tests: scrape it, then sum the samples of a metric whose labels match."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = list[tuple[str, dict[str, str], float]]


async def scrape(http: httpx.AsyncClient, url: str) -> Samples:
    r = await http.get(url)
    assert r.status_code == 200, r.text[:500]
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(r.text) for s in family.samples]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples with these labels (0 when there is none)."""
    return sum(value for n, have, value in samples if n == name and all(have.get(k) == v for k, v in labels.items()))


def series(samples: Samples, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [(have, value) for n, have, value in samples
            if n == name and all(have.get(k) == v for k, v in labels.items())]
