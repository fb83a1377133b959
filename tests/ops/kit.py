"""Scraping a Kanal process the way Prometheus does, and reading the samples back."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape of ``/metrics``, parsed with prometheus_client's own parser."""

    def __init__(self, base_url: str) -> None:
        answer = requests.get(f"{base_url}/metrics", timeout=10)
        answer.raise_for_status()
        self.content_type = answer.headers["Content-Type"]
        self.families = {f.name: f for f in text_string_to_metric_families(answer.text)}
        self.samples = [s for f in self.families.values() for s in f.samples]

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the sample ``name`` whose labels include ``labels`` (None if absent)."""
        found = [s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()]
        assert len(found) <= 1, f"{name} {labels} matches {len(found)} samples"
        return found[0] if found else None

    def total(self, name: str, **labels: str) -> float:
        """The sum of every sample ``name`` whose labels include ``labels``."""
        return sum(s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items())

    def label_values(self) -> set[str]:
        """Every label value of every sample."""
        return {v for s in self.samples for v in s.labels.values()}


def scrape(base_url: str) -> Scrape:
    """Scrape ``base_url``/metrics once."""
    return Scrape(base_url)
