"""Reading Prometheus text exposition in tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The value of the one sample of `name` whose labels include `labels`; None when absent."""
    found = [v for sample_labels, v in samples.get(name, []) if labels.items() <= sample_labels.items()]
    if not found:
        return None
    assert len(found) == 1, f"{name}{labels} matches {len(found)} samples"
    return found[0]


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for sample_labels, v in samples.get(name, []) if labels.items() <= sample_labels.items())
