"""Assemble benchmark CloudTrail records: call, caller, client, network, outcome, ids.

`EventFactory.events` writes the background of one object (one account, region and time range): each
event picks a call from the catalog's weights, a principal of the kinds that make that call in this
account, that principal's own user agent and address, the call's parameters, and now and then an error.
Identities, user agents and TLS details are built once and shared between events; what differs from one
event to the next (ids, times, resource names, keys, sizes) is drawn from the object's random generator.
"""

from __future__ import annotations

import bisect
import itertools
import random
import uuid
import zlib
from typing import Any

from benchmarks.cloudtrail_catalog import AGENT, DATA, PERSON, READ, SERVICE, WRITE, Api, catalog
from benchmarks.cloudtrail_large import token
from benchmarks.cloudtrail_org import (
    APP,
    CLI_CALLS,
    IAC,
    INSTANCE,
    INVOKING_SERVICES,
    LINKED,
    PARTNER,
    ROOT,
    S3_CONSOLE,
    SAML,
    USER,
    WEB,
    Principal,
    account_principals,
    cli_command,
    format_agent,
    rfc3339,
)
from benchmarks.cloudtrail_org import PERSON as PERSON_KIND
from benchmarks.cloudtrail_org import SERVICE as SERVICE_KIND
from benchmarks.cloudtrail_shapes import Shapes

# Who makes each kind of call: (principal kind, weight).
ACTORS: dict[str, tuple[tuple[str, float], ...]] = {
    READ: ((LINKED, 45), (SERVICE_KIND, 10), (PERSON_KIND, 10), (IAC, 9), (APP, 10), (INSTANCE, 3), (USER, 14),
           (ROOT, 0.02)),
    WRITE: ((IAC, 45), (PERSON_KIND, 16), (APP, 18), (LINKED, 14), (USER, 7)),
    DATA: ((APP, 38), (INSTANCE, 5), (PERSON_KIND, 3), (PARTNER, 4), (USER, 25), (SERVICE_KIND, 25)),
    AGENT: ((INSTANCE, 1),),
    PERSON: ((PERSON_KIND, 1),),
    SERVICE: ((LINKED, 1),),
    "assume": ((SERVICE_KIND, 75), (APP, 8), (IAC, 7), (PERSON_KIND, 4), (PARTNER, 2), (USER, 4)),
    "crypto": ((APP, 20), (SERVICE_KIND, 70), (INSTANCE, 4), (PERSON_KIND, 2), (PARTNER, 2), (USER, 2)),
    "web": ((WEB, 1),),
    "saml": ((SAML, 1),),
}
# Services whose calls from private subnets go through VPC interface or gateway endpoints.
_ENDPOINTS = frozenset({"s3", "kms", "sts", "ssm", "secretsmanager", "ecr", "logs", "dynamodb", "sqs", "monitoring",
                        "ecs"})
_NOT_FOUND = {"iam": "NoSuchEntity", "s3": "NoSuchKey", "ssm": "ParameterNotFound",
              "ec2": "Client.InvalidParameterValue", "rds": "DBInstanceNotFound",
              "secretsmanager": "ResourceNotFoundException",
              "sqs": "AWS.SimpleQueueService.NonExistentQueue", "cloudformation": "ValidationError"}
_THROTTLED = {"ec2": "Client.RequestLimitExceeded", "iam": "Throttling", "sts": "Throttling", "s3": "SlowDown",
              "cloudformation": "Throttling", "autoscaling": "Throttling"}
_DENIED = {"ec2": "Client.UnauthorizedOperation", "iam": "AccessDenied", "s3": "AccessDenied", "sts": "AccessDenied",
           "cloudformation": "AccessDenied", "rds": "AccessDenied", "autoscaling": "AccessDenied"}
_ERROR_RATE = {APP: 0.03, INSTANCE: 0.03, PERSON_KIND: 0.07, IAC: 0.05, LINKED: 0.06, USER: 0.04, PARTNER: 0.08}
_CONSOLE_AGENTS = {"ec2": "console.ec2.amazonaws.com", "iam": "AWS Internal", "organizations": "AWS Internal",
                   "sso": "AWS Internal", "cloudtrail": "AWS Internal", "monitoring": "console.amazonaws.com"}
_INTERNAL_AGENTS = frozenset({"AWS Internal", "console.amazonaws.com"})
_SERVICE_EVENTS = (("kms.amazonaws.com", "RotateKey"), ("backup.amazonaws.com", "BackupJobStarted"),
                   ("backup.amazonaws.com", "BackupJobCompleted"), ("ssm.amazonaws.com", "ManagedInstanceUpdated"))


def _cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


class EventFactory:
    def __init__(self, accounts: tuple[str, ...], regions: tuple[str, ...], global_region: str) -> None:
        self.accounts = accounts
        self.regions = regions
        self.global_region = global_region
        self.shapes = Shapes(accounts)
        apis = catalog()
        self.tables: dict[bool, tuple[list[Api], list[float]]] = {}
        for is_global in (False, True):
            chosen = [a for a in apis if is_global or not a.global_]
            weights = [a.weight * (len(regions) if a.global_ else 1.0) for a in chosen]
            self.tables[is_global] = (chosen, _cumulative(weights))
        self.actors = {key: ([k for k, _ in mix], _cumulative([w for _, w in mix])) for key, mix in ACTORS.items()}
        self.principals: dict[tuple[str, str], tuple[list[Principal], list[float]]] = {}
        for index, account in enumerate(accounts):
            every = account_principals(index, account)
            for kind in {p.kind for p in every}:
                pool = [p for p in every if p.kind == kind]
                self.principals[(account, kind)] = (pool, _cumulative([p.weight for p in pool]))
            people = [p for p in every if p.kind == PERSON_KIND and ("/AWSReservedSSO_" in p.arn or ":user/" in p.arn)]
            self.principals[(account, "signin")] = (people, _cumulative([p.weight for p in people]))
        self.agents: dict[tuple[str, str, str], str] = {}
        self.tls: dict[tuple[str, str], dict[str, str]] = {}
        self.vpce: dict[tuple[str, str, str], str] = {}
        self.invoked: dict[tuple[str, str], dict[str, Any]] = {}

    # --- per event choices -------------------------------------------------------------------------

    def _principal(self, rng: random.Random, account: str, api: Api) -> Principal:
        if api.service == "signin":
            pool, cum = self.principals[(account, "signin")]
        else:
            kinds, kind_cum = self.actors[api.actors]
            kind = kinds[bisect.bisect(kind_cum, rng.random() * kind_cum[-1])] if len(kinds) > 1 else kinds[0]
            pool, cum = self.principals.get((account, kind)) or self.principals[(account, APP)]
        p = pool[bisect.bisect(cum, rng.random() * cum[-1])] if len(pool) > 1 else pool[0]
        if p.services and api.service not in p.services:
            for _ in range(6):  # a workload calls only the services it uses: find one that does
                p = pool[bisect.bisect(cum, rng.random() * cum[-1])]
                if api.service in p.services:
                    return p
            if api.actors in (READ, WRITE):  # describing and changing the rest is automation's job
                pool, cum = self.principals[(account, IAC)]
                p = pool[bisect.bisect(cum, rng.random() * cum[-1])]
        return p

    def _agent(self, rng: random.Random, p: Principal, api: Api) -> tuple[str, bool]:
        """(user agent, from the console)."""
        agents = p.agents
        if p.kind == PERSON_KIND:
            r = rng.random()
            if len(agents) > 2 and r < 0.3 and api.name in CLI_CALLS:
                key = (agents[2], api.service, api.name)
                found = self.agents.get(key)
                if found is None:
                    found = self.agents[key] = cli_command(agents[2], api.service, api.name)
                return found, False
            if r < 0.55 and api.service in _CONSOLE_AGENTS:
                return _CONSOLE_AGENTS[api.service], True
            if r < 0.55 and api.service == "s3":
                n = zlib.crc32(p.arn.encode()) % 4
                return S3_CONSOLE.format(660 + n, 213 + n, 203 + n), True
            return agents[0] if r < 0.85 or len(agents) == 1 else agents[1], True
        if p.kind == INSTANCE:
            if api.actors == AGENT:
                return (agents[1] if api.service == "ssm" else agents[2]), False
            template = agents[3] if api.service in ("monitoring", "logs") else agents[0]
        else:
            template = agents[0] if len(agents) == 1 else agents[rng.getrandbits(1)]
        if "{api}" not in template:
            return template, False
        key = (template, api.service, "")
        found = self.agents.get(key)
        if found is None:
            found = self.agents[key] = format_agent(template, api.service)
        return found, False

    def _tls(self, service: str, region: str, is_global: bool) -> dict[str, str]:
        key = (service, region)
        found = self.tls.get(key)
        if found is None:
            host = f"{service}.amazonaws.com" if is_global else f"{service}.{region}.amazonaws.com"
            suite = "TLS_AES_128_GCM_SHA256" if len(service) % 3 else "ECDHE-RSA-AES128-GCM-SHA256"
            found = self.tls[key] = {"tlsVersion": "TLSv1.3" if suite.startswith("TLS_") else "TLSv1.2",
                                     "cipherSuite": suite, "clientProvidedHostHeader": host}
        return found

    def _error(self, rng: random.Random, api: Api, identity: dict[str, Any], arn: str) -> tuple[str, str]:
        service, r = api.service, rng.random()
        if r < 0.35 and api.read_only:
            return _NOT_FOUND.get(service, "ResourceNotFoundException"), "The specified resource does not exist."
        if r < 0.6:
            code = _DENIED.get(service, "AccessDenied" if api.global_ else "AccessDeniedException")
            if code.endswith("UnauthorizedOperation"):
                return code, "You are not authorized to perform this operation. Encoded authorization failure " \
                             "message: " + token(rng, rng.randint(400, 1600))
            who = arn or identity.get("invokedBy", "anonymous")
            action = f"{api.service}:{api.name.rstrip('0123456789v')}"
            return code, (f"User: {who} is not authorized to perform: {action} on resource: "
                          f"arn:aws:{api.service}:*:{identity.get('accountId', '')}:* because no identity-based "
                          f"policy allows the {action} action")
        if r < 0.85:
            return _THROTTLED.get(service, "ThrottlingException"), "Rate exceeded"
        if service == "ec2" and not api.read_only:
            return "Client.DryRunOperation", "Request would have succeeded, but DryRun flag is set."
        return "ValidationException", f"1 validation error detected: Value at '{api.name[:1].lower()}' failed to " \
                                      "satisfy constraint"

    # --- events --------------------------------------------------------------------------------------

    def events(self, rng: random.Random, times: list[int], account: str, region: str) -> list[dict[str, Any]]:
        """One background event per time (epoch seconds), in that order."""
        apis, cum = self.tables[region == self.global_region]
        chosen = rng.choices(apis, cum_weights=cum, k=len(times))
        stamps: dict[int, str] = {}
        out = []
        for ts, api in zip(times, chosen, strict=True):
            stamp = stamps.get(ts)
            if stamp is None:
                stamp = stamps[ts] = rfc3339(ts)
            if rng.random() < 0.004:
                out.append(self._service_event(rng, stamp, account, region))
                continue
            out.append(self._event(rng, ts, stamp, api, account, region))
        return out

    def _event(self, rng: random.Random, ts: int, stamp: str, api: Api, account: str,
               region: str) -> dict[str, Any]:
        p = self._principal(rng, account, api)
        identity = p.at(ts)
        where = self.global_region if api.global_ else region
        console = False
        vpce = ""
        if p.kind in (SERVICE_KIND, LINKED, ROOT) or identity.get("invokedBy"):
            agent = ip = p.ips[0]
        else:
            if api.actors == "crypto" and p.kind == APP and rng.random() < 0.75:
                service = INVOKING_SERVICES[rng.getrandbits(8) % len(INVOKING_SERVICES)]
                key = (identity["accessKeyId"], service)
                found = self.invoked.get(key)
                if found is None:
                    if len(self.invoked) > 4096:
                        self.invoked.clear()
                    found = self.invoked[key] = dict(identity, invokedBy=service)
                identity, agent, ip = found, service, service
            else:
                agent, console = self._agent(rng, p, api)
                ip = p.ips[0] if len(p.ips) == 1 else p.ips[rng.getrandbits(16) % len(p.ips)]
                if console and agent in _INTERNAL_AGENTS:  # the console's own back end calling for the person
                    ip = "AWS Internal"
                if p.vpc and api.service in _ENDPOINTS and ip.startswith("10."):
                    vpce = self._vpce(account, where, api.service)
        request, response, extra = self.shapes.shape(api)(rng, api, account, where, p, ts)
        event: dict[str, Any] = {
            "eventVersion": "1.08" if api.service == "signin" else ("1.10" if api.data else "1.09"),
            "userIdentity": identity, "eventTime": stamp, "eventSource": api.source, "eventName": api.name,
            "awsRegion": where, "sourceIPAddress": ip, "userAgent": agent}
        if api.service != "signin" and rng.random() < _ERROR_RATE.get(p.kind, 0.01):
            event["errorCode"], event["errorMessage"] = self._error(rng, api, identity, p.arn)
            response = None
        event["requestParameters"] = request
        event["responseElements"] = response
        if extra:
            event.update(extra)
        event["requestID"] = (f"{rng.getrandbits(64):016X}" if api.service == "s3"
                              else str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        event["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        event["readOnly"] = api.read_only
        event["eventType"] = "AwsConsoleSignIn" if api.service == "signin" else "AwsApiCall"
        event["managementEvent"] = not api.data
        event["recipientAccountId"] = account
        if vpce:
            event["vpcEndpointId"] = vpce
        event["eventCategory"] = "Data" if api.data else "Management"
        if ip[0].isdigit() or ":" in ip:
            event["tlsDetails"] = self._tls(api.service, where, api.global_)
        if console:
            event["sessionCredentialFromConsole"] = "true"
        return event

    def _vpce(self, account: str, region: str, service: str) -> str:
        key = (account, region, service)
        found = self.vpce.get(key)
        if found is None:
            found = self.vpce[key] = "vpce-0" + uuid.uuid5(uuid.NAMESPACE_DNS, "/".join(key)).hex[:16]
        return found

    def _service_event(self, rng: random.Random, stamp: str, account: str, region: str) -> dict[str, Any]:
        source, name = _SERVICE_EVENTS[rng.getrandbits(8) % len(_SERVICE_EVENTS)]
        key = self.shapes.key_arn(account, region, self.shapes.app(rng, account))
        data: dict[str, Any] = {"keyId": key.rsplit("/", 1)[1]} if source.startswith("kms") else {
            "backupJobId": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "state": name.removeprefix(
                "BackupJob").upper() or "UPDATED", "resourceType": rng.choice(("EBS", "RDS", "DynamoDB", "EFS"))}
        return {"eventVersion": "1.08", "userIdentity": {"accountId": account, "invokedBy": source},
                "eventTime": stamp, "eventSource": source, "eventName": name, "awsRegion": region,
                "sourceIPAddress": source, "userAgent": source, "requestParameters": None,
                "responseElements": None, "additionalEventData": data,
                "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "readOnly": False,
                "resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key}] if "kms" in source else [],
                "eventType": "AwsServiceEvent", "managementEvent": True, "recipientAccountId": account,
                "serviceEventDetails": {"state": "completed"}, "eventCategory": "Management"}
