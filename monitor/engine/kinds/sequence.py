"""Attack sequences: follow one actor across its keys and sessions, and tell its story in one incident alert.

Two kinds of state, both in the store (so they undo with their batch, persist, and are shared by replicas):

- links (space "links"): an access key id ("k:AKIA...") or a session ARN ("p:arn:...") -> the actor it
  belongs to, who handed it out and how. Written by the attack-sequence detector's own findings (its match
  runs only on the calls that create credentials); each link names the root actor, resolved when it is made,
  so a role assumed with a key created by A is A's. They expire `link_seconds` after they were made.
- actors (space "sequences"): per actor, its recent steps (the alerts and signals of every other detector,
  made by the actor or any identity linked to it), the identities seen and how they are linked, and the
  incident open for it.

Each step is evaluated when it happens (never per event): within `window_seconds` before it, the steps span
`min_tactics` primary tactics including a high-impact one and at least one alert, or follow a named sequence.
The incident is an episode of the attack-sequence detector keyed by the actor: one alert id while it grows,
emitted when it opens, again on a step at most once per `update_seconds` of event time (at once when its
severity rises), and finally when its episode ends (or the scan flushes).

Reads come in two rounds for a shared store: the links a finding's identity may have (`reads`), then the
actor those resolve to (`actor_reads`, once the links are fetched).
"""

from __future__ import annotations

import dataclasses
from bisect import insort
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from monitor.engine.episodes import SPACE as EPISODES
from monitor.engine.episodes import Episode, Episodes
from monitor.engine.episodes import slot as episode_slot
from monitor.engine.findings import ACCOUNT, EVENT_ID, EVENT_NAME, PRINCIPAL, REGION, SOURCE_IP, USER_AGENT, Finding
from monitor.engine.kinds.base import Batch, Kind
from monitor.engine.sequence_rules import NamedSequence, configured_sequences
from monitor.engine.state.store import SpaceOptions, StateStore
from monitor.model.alert import MAX_EVENT_IDS, Alert, clip, fingerprint, rfc3339
from monitor.model.attack import (
    CREDENTIAL_ACCESS,
    DEFENSE_EVASION,
    EXFILTRATION,
    IMPACT,
    PERSISTENCE,
    PRIVILEGE_ESCALATION,
    ordered,
    primary_tactic,
)
from monitor.model.detector import Detector, Sequences
from monitor.model.severity import Severity

LINKS = "links"
ACTORS = "sequences"
HIGH_IMPACT = frozenset({CREDENTIAL_ACCESS, PRIVILEGE_ESCALATION, PERSISTENCE, DEFENSE_EVASION, EXFILTRATION, IMPACT})
GENERIC = "tactics"  # the `sequence` of an incident raised by the generic rule
MAX_STEPS = 200  # per actor, oldest dropped first
MAX_TIMELINE = 50  # in the alert: the first and last halves, the rest counted in `timeline_omitted`
MAX_LISTED = 20  # source_ips, user_agents, identities
MAX_MEMBERS = 50
# The newest event time an incident grew (one value, expiring a window later): while no incident grew within the
# window, a finding need not look for a member episode to tag.
SEEN_SPACE, SEEN_KEY = "sequence-seen", "incident"
LINK_TIME = 3  # a link: [actor, handed out by, how, event time, owner, event name, event id]
# What an alert's context names as the thing acted on, first found wins.
_TARGET_KEYS = ("target", "user_name", "target_user", "userName", "role_name", "role_arn", "policy_arn", "bucket",
                "bucket_name", "trail", "trail_name", "trail_arn", "snapshot_id", "image_id", "resource",
                "resource_arn", "secret_id", "function_name", "key_id", "federated_name")


def link_key(kind: str, identifier: str) -> str:
    return ("k:" if kind == "key" else "p:") + identifier


def short(identity: str) -> str:
    """`arn:aws:iam::111122223333:user/dana` -> `user/dana`; anything else as it is."""
    return identity.rsplit(":", 1)[-1] if identity.startswith("arn:") else identity


class SequenceKind(Kind):
    def __init__(self, detector: Detector, store: StateStore, episodes: Episodes,
                 account_aliases: Mapping[str, str], lateness: float) -> None:
        super().__init__(detector, store, episodes, account_aliases, lateness)
        assert isinstance(detector.state, Sequences)
        self.spec = detector.state
        self.window = float(self.spec.window_seconds)
        self.named: list[NamedSequence] = configured_sequences(detector.params.get("sequences"),
                                                               detector.params.get("extra_sequences"))
        self.detector_ids: list[str] = []  # the engine's detector table (index -> id), set by the Applier
        self.seen = 0.0  # SEEN_KEY as of this slice
        store.space(LINKS, options=SpaceOptions(sweep_every=300.0))
        store.space(SEEN_SPACE, options=SpaceOptions(sweep_every=3600.0))
        store.space(ACTORS, options=SpaceOptions(sweep_every=300.0))

    # -- links: the detector's own findings ---------------------------------------------------------------

    def reads(self, finding: Finding) -> list[tuple[str, str]]:
        return identity_reads(finding)

    def apply(self, finding: Finding, ts: float, batch: Batch) -> None:
        """A call that created credentials: each new key or session belongs to the caller's actor. Steps the new
        credentials made before this call was applied (CloudTrail delivers services and regions apart) move
        from their own principal's sequence to the actor's."""
        caller = finding.facts[PRINCIPAL]
        actor, _ = self.resolve(finding)
        store = self.store
        links = finding.context.get("links") or []
        if links:
            _evict(store, LINKS, self.spec.max_links, LINK_TIME)
        for kind, identifier, owner, how in links:
            if owner == actor == caller:
                continue  # the caller's own session or key, and the caller is nobody else's: nothing to link
            link = [actor, caller, how, ts, owner, finding.facts[EVENT_NAME], finding.facts[EVENT_ID]]
            store.put(LINKS, link_key(kind, identifier), link, ts + self.spec.link_seconds + self.lateness)
            if owner != actor:
                self._adopt(actor, owner, kind, identifier, link, batch)

    def _adopt(self, actor: str, owner: str, kind: str, identifier: str, link: list[Any], batch: Batch) -> None:
        """Move the steps `owner` made with the new credentials before they were linked to `actor`."""
        store = self.store
        theirs: dict[str, Any] | None = store.get(ACTORS, owner)
        if not theirs:
            return
        def made_with(step: Mapping[str, Any]) -> bool:
            return (step.get("access_key") == identifier) if kind == "key" else step["principal"] == identifier
        moved = [step for step in theirs["steps"] if made_with(step)]
        if not moved:
            return
        kept = [step for step in theirs["steps"] if not made_with(step)]
        if kept:
            store.put(ACTORS, owner, {**theirs, "steps": kept},
                      max(step["time"] for step in kept) + self.window + self.lateness)
        else:
            store.delete(ACTORS, owner)
        moved = [{**step, "via_event": str(link[6])} for step in moved]
        state = self._load(actor)
        first = moved[0]
        name = (f"{first['principal']} (access key {identifier})" if kind == "key" else first["principal"])
        identities = state["identities"]
        if not identities:
            identities[actor] = ["", "the actor (first identity seen)"]
        if name not in identities and len(identities) < MAX_LISTED:
            identities[name] = [str(link[1]), str(link[2])]
        self._grow(state, moved, max(step["time"] for step in moved), batch)

    def resolve(self, finding: Finding, pending: Mapping[str, Any] | None = None) -> tuple[str, list[Any] | None]:
        """The actor behind a finding's caller, and the link that says so (None: the caller is its own actor)."""
        caller = finding.facts[PRINCIPAL]
        for name in identity_names(finding):
            link = pending.get(name) if pending else None
            if link is None:
                link = self.store.get(LINKS, name)
            if link is not None:
                return str(link[0]), list(link)
        return caller, None

    def actor_reads(self, finding: Finding, pending: dict[str, Any]) -> list[tuple[str, str]]:
        """Second round: the actor's steps and incident (the links were fetched in the first). `pending`
        collects the links this group makes before they are stored, so later findings resolve through them."""
        actor, _ = self.resolve(finding, pending)
        reads = [(ACTORS, actor), (EPISODES, episode_slot(self.id, actor))]
        if self.detector_ids[finding.detector] == self.id:
            for kind, identifier, owner, _how in finding.context.get("links") or []:
                pending[link_key(kind, identifier)] = [actor]
                reads.append((ACTORS, owner))  # steps made with the credentials before the link: moved
        return reads

    # -- steps: every other detector's findings ------------------------------------------------------------

    def refresh(self) -> None:
        """Before a slice: when an incident last grew (the Applier's `wanted` names the key)."""
        value: float | None = self.store.get(SEEN_SPACE, SEEN_KEY)
        self.seen = value or 0.0

    def observe(self, finding: Finding, ts: float, batch: Batch, first: int) -> None:
        """After another detector's finding was applied: its alerts (from `batch.alerts[first:]`) are steps."""
        alerts = batch.alerts
        if len(alerts) == first:  # the common case: the finding joined a window or an episode quietly
            if finding.key is not None and self.seen and ts - self.seen <= self.window and not finding.unsequenced:
                self._tag_member(finding)
            return
        if finding.unsequenced:
            return
        event_id = batch.event_ids[finding.position]
        new = [index for index in range(first, len(alerts))
               if alerts[index].last_event_time == ts or event_id in alerts[index].event_ids]
        if not new:
            self._tag_member(finding)
            return
        actor, link = self.resolve(finding)
        state = self._load(actor)
        known = {step["alert_id"] for step in state["steps"]}
        added = []
        for index in new:
            alert = alerts[index]
            if alert.id not in known:
                known.add(alert.id)
                added.append(self._step(alert, finding, ts, link))
        if not added:
            return
        self._identity(state, actor, finding, link)
        incident = self._grow(state, added, ts, batch)
        if incident:
            for index in new:
                alert = alerts[index]
                if not alert.signal and alert.context.get("incident") != incident:
                    alerts[index] = dataclasses.replace(alert, context={**alert.context, "incident": incident})
            self._tag_member(finding, incident)

    def _load(self, actor: str) -> dict[str, Any]:
        """The actor's state, copied to change (values are replaced, never changed in place)."""
        state: dict[str, Any] | None = self.store.get(ACTORS, actor)
        if state is None:
            _evict(self.store, ACTORS, self.spec.max_actors, LINK_TIME)
            return {"actor": actor, "steps": [], "incident": "", "sequence": "", "identities": {}}
        return {**state, "steps": list(state["steps"]), "identities": dict(state["identities"])}

    def _grow(self, state: dict[str, Any], added: list[dict[str, Any]], ts: float, batch: Batch) -> str:
        """Add steps to an actor's state, open or update its incident, store it; the incident id ("" for none)."""
        actor = state["actor"]
        steps: list[dict[str, Any]] = state["steps"]
        incident = state["incident"]
        if incident and steps and ts - max(step["time"] for step in steps) > self.window:
            incident = state["incident"] = ""  # the incident ended: its actor starts afresh
            state["sequence"] = ""
        if not incident:
            horizon = ts - self.window
            steps[:] = [step for step in steps if step["time"] >= horizon]
        for step in added:
            insort(steps, step, key=_order)
        del steps[:-MAX_STEPS]
        if not incident:
            found = self._evaluate(steps, ts)
            if found is not None:
                state["sequence"] = found
                state["incident"] = incident = fingerprint(self.id, actor, str(int(steps[0]["time"])))
        if incident:
            self._emit(state, ts, batch)
            if ts > self.seen:
                self.seen = ts
                self.store.put(SEEN_SPACE, SEEN_KEY, ts, ts + self.window + self.lateness)
        last = max(step["time"] for step in steps)
        self.store.put(ACTORS, actor, state, last + self.window + self.lateness)
        return str(incident)

    def _tag_member(self, finding: Finding, incident: str | None = None) -> None:
        """An open episode of an alert that is part of an incident names it (in its next emissions)."""
        if finding.key is None:
            return
        episode = self.episodes.get(self.detector_of(finding), finding.key)
        if episode is None or episode.alert.signal or "incident" in episode.alert.context:
            return
        if incident is None:
            actor, _ = self.resolve(finding)
            state = self.store.get(ACTORS, actor)
            if not state or not state["incident"] or episode.alert.id not in {s["alert_id"] for s in state["steps"]}:
                return
            incident = state["incident"]
        alert = dataclasses.replace(episode.alert, context={**episode.alert.context, "incident": incident})
        name = episode_slot(episode.alert.detector, finding.key)
        self.store.put(EPISODES, name, msgspec.structs.replace(episode, alert=alert), episode.end)

    def detector_of(self, finding: Finding) -> str:
        return self.detector_ids[finding.detector]

    def _step(self, alert: Alert, finding: Finding, ts: float, link: list[Any] | None) -> dict[str, Any]:
        facts = finding.facts
        return {"time": ts, "tactic": primary_tactic(alert.mitre), "step": alert.detector,
                "kind": "signal" if alert.signal else "alert", "title": alert.title, "event_name": facts[EVENT_NAME],
                "principal": facts[PRINCIPAL], "target": _target(alert.context), "event_id": facts[EVENT_ID],
                "alert_id": alert.id, "source_ip": facts[SOURCE_IP], "user_agent": facts[USER_AGENT],
                "account": facts[ACCOUNT], "region": facts[REGION], "severity": int(alert.severity),
                "mitre": list(alert.mitre), "via_event": str(link[6]) if link is not None else "",
                "access_key": finding.access_key}

    def _identity(self, state: dict[str, Any], actor: str, finding: Finding, link: list[Any] | None) -> None:
        identities: dict[str, list[str]] = state["identities"]
        caller = finding.facts[PRINCIPAL]
        if not identities:
            identities[actor] = ["", "the actor (first identity seen)"]
        if link is not None:
            name = caller if finding.access_key == "" else f"{caller} (access key {finding.access_key})"
            entry = [str(link[1]), str(link[2])]
        elif finding.console and caller not in identities:
            name, entry = caller, [actor, "console session"]
        elif caller != actor:
            name, entry = caller, [actor, "same access key"]
        else:
            return
        if name not in identities and len(identities) < MAX_LISTED:
            identities[name] = entry

    def _generic(self, steps: list[dict[str, Any]]) -> bool:
        tactics = spanned(steps)
        return (len(tactics) >= self.spec.min_tactics and not tactics.isdisjoint(HIGH_IMPACT)
                and any(step["kind"] == "alert" for step in steps))

    def _evaluate(self, steps: list[dict[str, Any]], ts: float) -> str | None:
        """The sequence these steps (within the window before `ts`) make: a named one, the generic rule, or None."""
        recent = [step for step in steps if ts - self.window <= step["time"] <= ts]
        if not any(step["kind"] == "alert" for step in recent):
            return None
        for named in self.named:
            matched = named.match(recent)
            if matched is not None and any(step["kind"] == "alert" for step in matched):
                return named.id
        return GENERIC if self._generic(recent) else None

    def _emit(self, state: dict[str, Any], ts: float, batch: Batch) -> None:
        alert = self._incident_alert(state)
        actor = state["actor"]
        name = episode_slot(self.id, actor)
        episode: Episode | None = self.store.get(EPISODES, name)
        update = float(self.spec.update_seconds)
        if episode is None or ts >= episode.start + update or alert.severity > episode.emitted_severity:
            # Emit now; `start` is when it was last emitted, the episode ends one update interval later.
            episode = Episode(alert=alert, start=ts, end=ts + update, emitted_count=alert.count,
                              emitted_severity=alert.severity)
            batch.alerts.append(alert)
        else:  # emitted less than a minute ago: the change waits for the next step or the episode's end
            episode = msgspec.structs.replace(episode, alert=alert)
        self.store.put(EPISODES, name, episode, episode.end)

    def _incident_alert(self, state: dict[str, Any]) -> Alert:
        steps: list[dict[str, Any]] = state["steps"]
        actor = state["actor"]
        sequence = state["sequence"]
        named = next((n for n in self.named if n.id == sequence), None)
        tactics = ordered(spanned(steps))
        severity = Severity.CRITICAL if named is None or len(tactics) >= 3 else Severity.HIGH
        first, last = steps[0], steps[-1]
        timeline = [_entry(step) for step in steps]
        omitted = max(0, len(timeline) - MAX_TIMELINE)
        if omitted:
            half = MAX_TIMELINE // 2
            timeline = timeline[:half] + timeline[-half:]
        ips = list(dict.fromkeys(step["source_ip"] for step in steps if step["source_ip"]))[:MAX_LISTED]
        agents = list(dict.fromkeys(step["user_agent"] for step in steps if step["user_agent"]))[:MAX_LISTED]
        listed = state["identities"]
        identities = [{"identity": name, "linked_to": listed[name][0], "how": listed[name][1]}
                      for name in sorted(listed, key=lambda name: (name != actor, name))]
        members = [step["alert_id"] for step in steps if step["kind"] == "alert"][:MAX_MEMBERS]
        title = (f"Attack sequence: {named.title}" if named is not None
                 else f"Attack sequence across {len(tactics)} tactics")
        title = clip(f"{title} ({short(actor)})", 200)
        context: dict[str, Any] = {
            "incident": state["incident"], "actor": actor, "sequence": sequence, "tactics": tactics,
            "timeline": timeline, "timeline_omitted": omitted, "identities": identities, "source_ips": ips,
            "user_agents": agents, "member_alerts": members, "narrative": narrative(actor, steps, identities)}
        mitre = tuple(dict.fromkeys(t for step in steps for t in step["mitre"]))
        return Alert(
            id=state["incident"], detector=self.id, title=title, severity=severity, account=first["account"],
            account_alias=self.aliases.get(first["account"], ""), region=first["region"], principal=actor,
            source_ip=last["source_ip"], user_agent=last["user_agent"], event_source="",
            event_name=last["event_name"], event_time=first["time"], last_event_time=last["time"],
            event_ids=list(dict.fromkeys(clip(step["event_id"], 128) for step in steps
                                         if step["event_id"]))[:MAX_EVENT_IDS],
            count=len(steps), mitre=mitre or self.detector.mitre, runbook=self.detector.runbook, context=context,
            tactics=tuple(tactics))


def spanned(steps: list[dict[str, Any]]) -> set[str]:
    """The tactics steps span, one per event: several detectors reporting one call (a key created without MFA)
    are one step of the story, told by its most severe alert."""
    told: dict[str, dict[str, Any]] = {}
    for step in steps:
        if not step["tactic"]:
            continue
        event = step["event_id"] or step["alert_id"]
        best = told.get(event)
        if best is None or (step["kind"] == "alert", step["severity"]) > (best["kind"] == "alert", best["severity"]):
            told[event] = step
    return {step["tactic"] for step in told.values()}


def identity_names(finding: Finding) -> list[str]:
    """Where a finding's caller may be linked: its access key (every call names one), else its session."""
    if finding.access_key:
        return ["k:" + finding.access_key]
    return ["p:" + finding.facts[PRINCIPAL]]


def identity_reads(finding: Finding) -> list[tuple[str, str]]:
    return [(LINKS, name) for name in identity_names(finding)]


def _order(step: Mapping[str, Any]) -> tuple[float, str]:
    return (step["time"], step["alert_id"])


def _target(context: Mapping[str, Any]) -> str:
    for key in _TARGET_KEYS:
        value = context.get(key)
        if isinstance(value, str) and value:
            return clip(value, 256)
    return ""


def _entry(step: Mapping[str, Any]) -> dict[str, Any]:
    return {"time": rfc3339(step["time"]), "tactic": step["tactic"], "step": step["step"], "kind": step["kind"],
            "title": step["title"], "event_name": step["event_name"], "principal": step["principal"],
            "target": step["target"], "event_id": step["event_id"], "alert_id": step["alert_id"],
            "source_ip": step["source_ip"], "user_agent": step["user_agent"]}


def narrative(actor: str, steps: list[dict[str, Any]], identities: list[dict[str, str]]) -> str:
    """One paragraph of plain English from the timeline: who did what, when, from where, and how they are linked."""
    parts: list[str] = []
    where = ""
    for step in steps[:12]:
        clock = datetime.fromtimestamp(step["time"], tz=UTC).strftime("%H:%M")
        what = step["title"][:1].lower() + step["title"][1:]
        on = f" on {short(step['target'])}" if step["target"] else ""
        text = f"{short(step['principal'])} {step['event_name'] or 'acted'}{on} at {clock} ({what}"
        if step["source_ip"] and step["source_ip"] != where:
            where = step["source_ip"]
            text += f", from {where}"
        parts.append(text + ")")
    story = f"Actor {short(actor)}: " + "; then ".join(parts)
    if len(steps) > 12:
        story += f"; and {len(steps) - 12} more steps"
    links = [f"{short(entry['linked_to'])} {entry['how']}: {short(entry['identity'])}"
             for entry in identities if entry["linked_to"]]
    if links:
        story += ". Linked: " + "; ".join(links)
    return clip(story + ".", 4000)


def _evict(store: StateStore, space: str, limit: int, time_index: int) -> None:
    """Past `limit` keys, drop the least recently active tenth at once (rare and amortised)."""
    if store.size(space) < limit:
        return
    values = sorted(store.items(space), key=lambda item: _last_time(item[1], time_index))
    for key, _ in values[: max(1, len(values) // 10)]:
        store.delete(space, key)


def _last_time(value: Any, time_index: int) -> float:
    if isinstance(value, dict):
        return max((float(step["time"]) for step in value.get("steps") or ()), default=0.0)
    return float(value[time_index])
