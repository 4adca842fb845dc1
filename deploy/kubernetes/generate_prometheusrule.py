#!/usr/bin/env python3
"""Write prometheusrule.yaml (Prometheus Operator) from deploy/prometheus/alerts.yml.

The alert rules have one source of truth; this copies their groups into a
PrometheusRule. Run it after editing alerts.yml:

    python deploy/kubernetes/generate_prometheusrule.py          # rewrite prometheusrule.yaml
    python deploy/kubernetes/generate_prometheusrule.py --check  # exit 1 if it is out of date

The test suite runs the same comparison.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ALERTS = HERE.parent / "prometheus" / "alerts.yml"
OUTPUT = HERE / "prometheusrule.yaml"

HEADER = "# Generated from deploy/prometheus/alerts.yml by generate_prometheusrule.py: edit alerts.yml instead.\n"


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line PromQL stays readable as a literal block.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render(alerts_text: str) -> str:
    rules = yaml.safe_load(alerts_text)
    groups: list[Any] = rules["groups"]
    resource = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "trailsentry",
            "namespace": "trailsentry",
            "labels": {"app.kubernetes.io/name": "trailsentry"},
        },
        "spec": {"groups": groups},
    }
    body = yaml.dump(resource, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether prometheusrule.yaml is current")
    args = parser.parse_args(argv)
    text = render(ALERTS.read_text(encoding="utf-8"))
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
