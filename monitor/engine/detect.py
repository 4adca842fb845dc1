"""Detection: run every detector that wants an event, and keep what the state will need.

Pure and stateless across slices: a slice of typed events in, `SliceFindings` out. This is the half
of the engine that worker processes run; it never sees another slice, so any number of them give the
same findings. Per event it costs a few lookups: detectors are indexed by eventName, narrowed by
identity type or to failed calls, and a detector that raises is counted and skipped for that event
only.

A first-seen learner sees nearly every event of the principals it follows; repeats of the same key
and value within a slice are folded into the first finding (`Finding.repeats`), so the state side
does one lookup per distinct value instead of one per event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.decode import BAD_TIME, EventTimes, Slice
from monitor.decode.formats import INSIGHT_EVENT_TYPE
from monitor.engine.findings import Facts, Finding, SliceFindings
from monitor.engine.kinds.first_seen import first_seen_granularity
from monitor.engine.suppressions import SuppressionSet
from monitor.engine.targets import with_targets
from monitor.model import event as ev
from monitor.model.alert import clip
from monitor.model.detector import (
    ANY_SOURCE,
    SESSION_KINDS,
    Detector,
    FirstSeen,
    Hit,
    Keys,
    Sequences,
)
from monitor.model.event import Event, UserIdentity
from monitor.model.facts import key_function
from monitor.model.issue import InputIssue

log = logging.getLogger("trailsentry.engine")

# Role sessions whose kinds are remembered (by ARN and principal id); past this many, forgotten all at once.
MAX_SESSIONS_REMEMBERED = 8192


class Rule:
    """One detector as detection runs it: its match, params, key and what its kind needs from a Hit."""

    __slots__ = ("detector", "failed_once", "fold_seconds", "group", "id", "identity_types", "index", "learner",
                 "match", "needs_key", "needs_value", "params", "suppressions", "title")

    def __init__(self, index: int, detector: Detector, suppressions: SuppressionSet) -> None:
        self.index = index
        self.detector = detector
        self.id = detector.id
        self.match = detector.match
        self.params: Mapping[str, Any] = detector.params
        group = detector.group_by
        self.group: Callable[[Event], str | None] | None
        if isinstance(group, Keys):
            self.group = key_function(group) if group.facts else None
        else:
            self.group = group
        # A key is needed by every stateful kind, and by grouping that takes its key from the Hit.
        self.needs_key = detector.state is not None or (isinstance(group, Keys) and not group.facts)
        # A distinct count without a value still joins an open episode (the kind decides).
        self.needs_value = isinstance(detector.state, FirstSeen)
        self.learner = isinstance(detector.state, FirstSeen)
        # A learner's repeats of one key and value within this much event time fold into one finding (the
        # first-seen kind's own granularity: within it, a known value changes nothing).
        self.fold_seconds = first_seen_granularity(detector.state) if isinstance(detector.state, FirstSeen) else 0.0
        # None when no configured suppression can apply, so the common case costs nothing.
        self.suppressions = suppressions if suppressions.applies_to(detector.id) else None
        self.failed_once = False
        self.title = clip(detector.title, 200)
        self.identity_types = (detector.identity_types_for(self.params) if detector.identity_types_for is not None
                               else detector.identity_types)


class Detection:
    def __init__(self, detectors: Sequence[Detector], suppressions: SuppressionSet | None = None) -> None:
        suppressions = suppressions or SuppressionSet()
        self._times = EventTimes()

        self.rules = [Rule(index, detector, suppressions) for index, detector in enumerate(detectors)]
        # Attack sequences follow actors across keys: findings then carry the calling key (and whether an
        # allowlist entry for the sequence detector keeps the event out of every sequence).
        sequence = next((d for d in detectors if isinstance(d.state, Sequences)), None)
        self._sequences = sequence is not None
        self._sequence_suppressions = (suppressions if sequence is not None and suppressions.applies_to(sequence.id)
                                       else None)
        self._sequence_id = sequence.id if sequence is not None else ""
        by_name: dict[str, list[tuple[str, Rule]]] = {}
        self._every: list[Rule] = []
        self._on_errors: list[Rule] = []
        self._on_changes: list[Rule] = []
        self._by_identity_type: dict[str, list[Rule]] = {}
        for rule in self.rules:
            detector = rule.detector
            if detector.inert is not None and detector.inert(rule.params):
                continue  # nothing to detect with these params: never dispatched
            if detector.all_events and detector.errors_only:
                self._on_errors.append(rule)
            elif detector.all_events and detector.changes_only:
                self._on_changes.append(rule)
            elif rule.identity_types:
                for kind in rule.identity_types:
                    self._by_identity_type.setdefault(kind, []).append(rule)
            elif detector.all_events:
                self._every.append(rule)
            for source, name in sorted(detector.events):
                by_name.setdefault(name, []).append((source, rule))
        # eventName -> eventSource -> the rules for that call, in catalog order; ANY_SOURCE holds the rules of any
        # source, for a source no rule names (attacker-chosen values reach here).
        self._by_call: dict[str, dict[str, list[Rule]]] = {
            name: {source: [rule for wanted, rule in rules if wanted in (source, ANY_SOURCE)]
                   for source in {wanted for wanted, _ in rules} | {ANY_SOURCE}}
            for name, rules in by_name.items()}

        # The session kinds some rule wants, each with its test: run on AssumedRole callers only.
        self._sessions = [(test, self._by_identity_type[kind]) for kind, test in SESSION_KINDS.items()
                          if kind in self._by_identity_type]
        self._session_rules: dict[tuple[str, str], list[list[Rule]]] = {}

    def detect(self, part: Slice) -> SliceFindings:
        """The prologue and dispatch of every event of a slice: one pass over its events."""
        events = part.events
        times: list[float] = []
        # The slice's issues and skips are copied, not shared: detecting never changes its slice.
        found = SliceFindings(origin=part.origin, event_ids=[event.eventID for event in events], times=times,
                              findings=[], issues=list(part.issues), skipped=dict(part.skipped))
        learned: dict[tuple[int, str, str], Finding] = {}
        by_call = self._by_call.get
        by_type = self._by_identity_type.get
        every = self._every
        on_errors = self._on_errors
        on_changes = self._on_changes
        sessions = self._sessions
        session_rules = self._session_rules
        known_time = self._times.recent.get
        parse_time = self._times.parse
        limit = part.record_limit  # the limit the input was decoded with
        newest = -1.0
        for position, event in enumerate(events):
            text = event.eventTime
            ts = known_time(text)
            if ts is None:
                ts = parse_time(text)
            times.append(ts)
            if ts > newest:
                newest = ts
            elif ts == BAD_TIME and position not in part.timeless:
                self._issue(part, found, position, "bad_event_time",
                            f"eventTime {_preview(text)} is missing or not a timestamp")
            name = event.eventName
            source = event.eventSource
            if not name or not source:
                self._issue(part, found, position, "wrong_type", "eventName/eventSource missing or not strings")
            if event.eventType == INSIGHT_EVENT_TYPE or (
                    len(event.requestParameters) + len(event.responseElements) + len(event.userAgent) > limit):
                self._set_aside(part, found, position, event)
                continue
            facts: Facts | None = None  # the alert fields, computed by the first finding of this event
            sources = by_call(name)
            if sources is not None:
                wanted = sources.get(source) or sources[ANY_SOURCE]
                if wanted:
                    facts = self._each(wanted, event, position, ts, found, learned, facts)
            if every:
                facts = self._each(every, event, position, ts, found, learned, facts)
            if on_errors and event.errorCode:
                facts = self._each(on_errors, event, position, ts, found, learned, facts)
            if on_changes and event.readOnly is not True:
                facts = self._each(on_changes, event, position, ts, found, learned, facts)
            identity = event.userIdentity
            kind = identity.type
            typed = by_type(kind)
            if typed is not None:
                facts = self._each(typed, event, position, ts, found, learned, facts)
            if sessions and kind == "AssumedRole":
                names = (identity.arn, identity.principalId)
                wanted_by_kind = session_rules.get(names)
                if wanted_by_kind is None:
                    wanted_by_kind = self._rules_of_session(identity, names)
                for rules in wanted_by_kind:
                    facts = self._each(rules, event, position, ts, found, learned, facts)
        found.newest = newest
        return found

    def _rules_of_session(self, identity: UserIdentity, names: tuple[str, str]) -> list[list[Rule]]:
        """The rules of each session kind this AssumedRole session is, remembered by the session's names: a
        session makes many calls, and its kinds cost three tests each time."""
        found = [rules for test, rules in self._sessions if test(identity)]
        if len(self._session_rules) >= MAX_SESSIONS_REMEMBERED:
            self._session_rules.clear()  # names are attacker-controlled: the memory stays bounded
        self._session_rules[names] = found
        return found

    def _each(self, rules: list[Rule], event: Event, position: int, ts: float, found: SliceFindings,
              learned: dict[tuple[int, str, str], Finding], facts: Facts | None) -> Facts | None:
        """Run each rule's match on the event and keep what its Hits count; the event's facts once computed."""
        for rule in rules:
            try:
                verdict = rule.match(event, rule.params)
                if verdict is None:
                    continue
                if type(verdict) is Hit:
                    facts = self._keep(rule, verdict, event, position, ts, found, learned, facts)
                    continue
                for hit in verdict:  # type: ignore[union-attr]
                    facts = self._keep(rule, hit, event, position, ts, found, learned, facts)
            except Exception as exc:  # a bug in one detector (its match or group key) must not stop the others
                self._failed(rule, exc, found)
        return facts

    def _issue(self, part: Slice, found: SliceFindings, position: int, reason: str, detail: str) -> None:
        line, record = part.where(position)
        found.issues.append(InputIssue(part.origin, reason, detail, line=line, record=record))

    def _set_aside(self, part: Slice, found: SliceFindings, position: int, event: Event) -> None:
        """An Insight event (skipped and counted) or a record over the size limit (refused and reported)."""
        found.event_ids[position] = ""  # not applied, so not remembered
        found.set_aside += 1  # nor counted as processed
        if event.eventType == INSIGHT_EVENT_TYPE:
            found.skipped["insight"] = found.skipped.get("insight", 0) + 1
        else:
            self._issue(part, found, position, "too_large",
                        f"record larger than the limit of {part.record_limit} bytes; skipped")

    def _failed(self, rule: Rule, exc: Exception, found: SliceFindings) -> None:
        found.detector_errors[rule.id] += 1
        if not rule.failed_once:
            rule.failed_once = True
            log.error("detector %s failed on an event from %s: %s: %s (further errors are only counted)",
                      rule.id, found.origin, type(exc).__name__, clip(str(exc), 200))

    def _keep(self, rule: Rule, hit: Hit, event: Event, position: int, ts: float, found: SliceFindings,
              learned: dict[tuple[int, str, str], Finding], facts: Facts | None) -> Facts | None:
        key = hit.key
        if key is None and rule.group is not None:
            key = rule.group(event)
        if key is None and rule.needs_key:
            if rule.group is None and rule.detector.state is None:
                found.detector_errors[rule.id] += 1  # the detector promised a key in its Hits and gave none
            return facts  # nothing to count against
        value = hit.value
        if rule.needs_value and value is None:
            return facts
        if rule.learner:
            seen_as = (rule.index, key or "", value or "")
            earlier = learned.get(seen_as)
            if earlier is not None and abs(ts - found.times[earlier.position]) <= rule.fold_seconds:
                earlier.repeats.append(position)
                return facts
        if rule.suppressions is not None and rule.suppressions.match(rule.id, event, ts) is not None:
            found.suppressed[rule.id] += 1  # dropped before it counts toward anything
            return facts
        found.matches[rule.id] += 1
        if facts is None:
            facts = event_facts(event)
        detector = rule.detector
        context = with_targets(dict(hit.context)) if hit.context else {}
        service = ev.calling_service(event)
        if service:  # a change a service made for someone: say which service, for whom
            context.setdefault("made_through", clip(service, 128))
            context.setdefault("on_behalf_of", facts[3])
        sequences = self._sequences
        finding = Finding(detector=rule.index, position=position, key=key, value=value,
                          severity=hit.severity if hit.severity is not None else detector.severity,
                          title=clip(hit.title, 200) if hit.title else rule.title, context=context, facts=facts,
                          prior=hit.prior, standalone=hit.standalone, quiet=hit.quiet,
                          escalation_title=None if hit.escalation_title is None else clip(hit.escalation_title, 200),
                          priors_needed=hit.priors_needed, read_only=event.readOnly is True)
        if sequences:
            finding.access_key = clip(event.userIdentity.accessKeyId, 128)
            finding.console = event.sessionCredentialFromConsole == "true"
        quiet = self._sequence_suppressions
        if quiet is not None:
            finding.unsequenced = quiet.match(self._sequence_id, event, ts) is not None
        if rule.learner:
            learned[seen_as] = finding
        found.findings.append(finding)
        return facts


def _preview(text: str) -> str:
    if not text:
        return "(absent)"
    printable = "".join(ch if ch.isprintable() else "?" for ch in text[:40])
    return repr(printable + ("…" if len(text) > 40 else ""))


def event_facts(event: Event) -> Facts:
    """The alert fields of an event, clipped: attacker-controlled strings stay small."""
    return (clip(event.eventID, 128), clip(ev.account(event), 64), clip(event.awsRegion, 64),
            clip(ev.principal(event)), clip(event.sourceIPAddress, 256), clip(event.userAgent),
            clip(event.eventSource, 128), clip(event.eventName, 128), clip(event.eventTime, 64))


__all__ = ["BAD_TIME", "Detection", "Rule", "event_facts"]
