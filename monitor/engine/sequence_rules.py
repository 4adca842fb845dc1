"""Named attack sequences: ordered steps declared in YAML (monitor/engine/sequences.yaml and the config).

A named sequence matches an actor's steps when some of them, in event-time order, match its steps one after
the other (other steps may come between). A step matches by detector id or by tactic; `linked: true` also
asks that it was made with a key or session handed out by the event of an earlier matched step (the key that
step created, the role it assumed): "a new key created, then used".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from monitor.model.attack import TACTICS

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class StepPattern:
    detectors: frozenset[str] = frozenset()
    tactics: frozenset[str] = frozenset()
    linked: bool = False

    def matches(self, step: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]) -> bool:
        if self.linked and not any(step.get("via_event") == before.get("event_id") for before in earlier):
            return False
        return step.get("step") in self.detectors or step.get("tactic") in self.tactics


@dataclass(frozen=True, slots=True)
class NamedSequence:
    id: str
    title: str
    steps: tuple[StepPattern, ...]

    def match(self, steps: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]] | None:
        """The steps (in time order) that follow this sequence, the earliest way; None when they do not."""
        matched: list[Mapping[str, Any]] = []
        wanted = 0
        for step in steps:
            if matched and step.get("event_id") == matched[-1].get("event_id"):
                continue  # one call is one step of a story, however many detectors report it
            if self.steps[wanted].matches(step, matched):
                matched.append(step)
                wanted += 1
                if wanted == len(self.steps):
                    return matched
        return None


class SequenceError(ValueError):
    pass


def parse_sequences(entries: Any, where: str) -> list[NamedSequence]:
    """Named sequences from their YAML form (a list of {id, title, steps: [{detectors, tactics, linked}]})."""
    if not isinstance(entries, list):
        raise SequenceError(f"{where}: sequences must be a list")
    parsed: list[NamedSequence] = []
    for index, entry in enumerate(entries):
        here = f"{where}[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not _ID.match(entry["id"]):
            raise SequenceError(f"{here}: each sequence needs a kebab-case id")
        steps = entry.get("steps")
        if not isinstance(steps, list) or not 2 <= len(steps) <= 10:
            raise SequenceError(f"{here}: steps must list 2 to 10 steps")
        patterns = tuple(_step(step, f"{here}.steps[{number}]") for number, step in enumerate(steps))
        title = entry.get("title") or entry["id"]
        parsed.append(NamedSequence(id=entry["id"], title=str(title)[:200], steps=patterns))
    return parsed


def _step(step: Any, where: str) -> StepPattern:
    if not isinstance(step, dict) or set(step) - {"detectors", "tactics", "linked"}:
        raise SequenceError(f"{where}: a step has detectors, tactics and linked")
    detectors = _names(step.get("detectors", []), where)
    tactics = _names(step.get("tactics", []), where)
    unknown = sorted(tactics - TACTICS)
    if unknown:
        raise SequenceError(f"{where}: unknown tactic(s) {', '.join(unknown)}")
    if not detectors and not tactics:
        raise SequenceError(f"{where}: name detectors or tactics")
    return StepPattern(detectors=detectors, tactics=tactics, linked=step.get("linked") is True)


def _names(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SequenceError(f"{where}: detectors and tactics are lists of names")
    return frozenset(value)


@cache
def default_sequences() -> tuple[NamedSequence, ...]:
    """The sequences shipped with trailsentry (read once)."""
    text = Path(__file__).with_name("sequences.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: a tenth of the time
    return tuple(parse_sequences(yaml.load(text, Loader=loader)["sequences"], "sequences.yaml"))


def configured_sequences(replace: Any, extra: Iterable[Any] | None) -> list[NamedSequence]:
    """The detector's params: `sequences` replaces the shipped list when given, `extra_sequences` adds to it."""
    base = list(default_sequences()) if replace is None else parse_sequences(replace, "params.sequences")
    added = parse_sequences(list(extra or []), "params.extra_sequences")
    ids = [sequence.id for sequence in (*base, *added)]
    duplicates = sorted({name for name in ids if ids.count(name) > 1})
    if duplicates:
        raise SequenceError(f"sequence ids must be unique: {', '.join(duplicates)}")
    return [*base, *added]
