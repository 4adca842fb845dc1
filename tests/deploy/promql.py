"""PromQL found in the deploy files: extraction, Grafana variable substitution, metric names."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# What Grafana substitutes before a query reaches Prometheus; concrete values that parse.
GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "instance": ".*",
    "source": ".*",
}

_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                       "unless", "offset", "inf", "nan", "Inf", "NaN", "atan2"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABELS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


@dataclass(frozen=True)
class Query:
    where: str  # "dashboard panel 'Events per second by source' A" or "alert TrailsentryDown"
    expr: str


def substitute(expr: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in GRAFANA_VARIABLES:
            raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")
        return GRAFANA_VARIABLES[name]

    return _VARIABLE.sub(replace, expr)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords, labels or durations)."""
    text = _STRING.sub('""', expr)
    text = _LABELS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    names: set[str] = set()
    for match in _IDENT.finditer(text):
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before == ".":
            continue  # the exponent of 1e3, the unit of a duration
        token = match.group()
        if token in _KEYWORDS or text[match.end():].lstrip().startswith("("):
            continue  # a keyword, or a function / aggregation call
        names.add(token)
    return names


def dashboard(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # panels inside collapsed rows
    return found


def dashboard_queries(board: dict[str, Any]) -> list[Query]:
    queries: list[Query] = []
    for panel in panels(board):
        for target in panel.get("targets", []):
            if target.get("expr"):
                queries.append(Query(f"dashboard panel {panel['title']!r} {target['refId']}", target["expr"]))
    return queries


def variable_queries(board: dict[str, Any]) -> list[Query]:
    """The PromQL inside `label_values(<selector>, label)` template variables."""
    queries: list[Query] = []
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", text.strip())
        assert match, f"variable {variable['name']}: expected label_values(selector, label), got {text!r}"
        queries.append(Query(f"dashboard variable {variable['name']}", match.group(1)))
    return queries


def alert_rules(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def rule_queries(path: Path) -> list[Query]:
    return [Query(f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]) for rule in alert_rules(path)]


def as_recording_rules(queries: list[Query]) -> str:
    """A rules file with each query as a recording rule, so `promtool check rules` parses them all."""
    rules = [{"record": f"check:query_{index}", "expr": substitute(q.expr)} for index, q in enumerate(queries)]
    return yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}, sort_keys=False, width=1000)
