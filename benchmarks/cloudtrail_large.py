"""The large records of the benchmark corpus: batched requests and big responses, its long tail of sizes.

Dashboards asking for many metric series, AWS Config and Security Hub reporting batches, ECS and SSM agents
describing their instance, RunInstances returning whole instance descriptions: the few events of several
kilobytes that real trails have.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.cloudtrail_catalog import Api
from benchmarks.cloudtrail_org import Principal

# (requestParameters, responseElements, other fields such as resources and additionalEventData)
Parts = tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]
Shape = Callable[[random.Random, Api, str, str, Principal, int], Parts]

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
TAG_KEYS = ("team", "env", "cost-center", "service", "owner", "data-classification", "managed-by", "repo")


def token(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(_B64, k=length))


class LargeShapes:
    def app(self, rng: random.Random, account: str) -> str:
        raise NotImplementedError

    def metric_data(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        """Dashboards and autoscalers ask for many series at once: a long tail of large requests."""
        queries = [{"id": f"m{i}", "metricStat": {
            "metric": {"namespace": rng.choice(("AWS/EC2", "AWS/ECS", "AWS/ApplicationELB", "AWS/Lambda", "AWS/RDS")),
                       "metricName": rng.choice(("CPUUtilization", "RequestCount", "Duration", "Errors",
                                                 "TargetResponseTime", "FreeableMemory")),
                       "dimensions": [{"name": "ServiceName", "value": self.app(rng, account)}]},
            "period": rng.choice((60, 300)), "stat": rng.choice(("Average", "Sum", "p99"))}, "returnData": True}
            for i in range(min(int(rng.paretovariate(0.9)), 22))]
        start = time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(ts - 3600))
        end = time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(ts))
        return {"metricDataQueries": queries, "startTime": start, "endTime": end}, None, None

    def evaluations(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        """AWS Config reporting rule results, Security Hub importing findings: batches of varied size."""
        count = min(int(rng.paretovariate(1.2)), 20)
        if api.name == "PutEvaluations":
            items = [{"complianceResourceType": "AWS::EC2::Instance",
                      "complianceResourceId": f"i-0{rng.getrandbits(64):016x}"[:19],
                      "complianceType": rng.choice(("COMPLIANT", "NON_COMPLIANT")),
                      "orderingTimestamp": time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(ts))}
                     for _ in range(count)]
            return {"evaluations": items, "resultToken": token(rng, rng.randint(120, 600)), "testMode": False}, {
                "failedEvaluations": []}, None
        findings = [{"id": f"arn:aws:securityhub:{region}:{account}:finding/{uuid.UUID(int=rng.getrandbits(128))}",
                     "productArn": f"arn:aws:securityhub:{region}::product/aws/guardduty",
                     "types": ["Software and Configuration Checks/AWS Security Best Practices"],
                     "severity": {"label": rng.choice(("INFORMATIONAL", "LOW", "MEDIUM"))},
                     "title": f"{self.app(rng, account)}: {rng.choice(('EC2.8', 'S3.5', 'IAM.1', 'Lambda.2'))}"}
                    for _ in range(count)]
        return {"findings": findings}, {"failedCount": 0, "successCount": count, "failedFindings": []}, None

    def instance_agent(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        instance = p.arn.rsplit("/", 1)[-1]
        if api.name == "UpdateInstanceInformation":
            return {"instanceId": instance, "agentVersion": "3.3.131.0", "agentStatus": "Active",
                    "platformType": "Linux", "platformName": "Amazon Linux", "platformVersion": "2023",
                    "iPAddress": f"10.0.{rng.getrandbits(6)}.{rng.getrandbits(7)}", "computerName":
                    f"ip-10-0-{rng.getrandbits(6)}-{rng.getrandbits(7)}.ec2.internal", "agentName": "amazon-ssm-agent",
                    "availabilityZone": f"{region}a", "availabilityZoneId": "use1-az4"}, None, None
        if api.service == "ecs":
            cluster = f"arn:aws:ecs:{region}:{account}:cluster/{self.app(rng, account)}"
            containers = [{"containerName": f"{self.app(rng, account)}-{i}",
                           "runtimeId": f"{rng.getrandbits(128):032x}", "status": "RUNNING", "networkBindings": []}
                          for i in range(min(int(rng.paretovariate(1.5)), 12))]
            return {"cluster": cluster, "task": f"{cluster.replace(':cluster/', ':task/')}/{rng.getrandbits(128):032x}",
                    "status": "RUNNING", "containers": containers}, {"acknowledgment": "ACK"}, None
        return {"instanceId": instance}, None, None

    def run_instances(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        """RunInstances: one of the largest records CloudTrail writes (the whole instance description)."""
        count = rng.choice((1, 1, 1, 2, 3))
        subnet = f"subnet-0{rng.getrandbits(64):016x}"[:24]
        kind = rng.choice(("t3.medium", "m6i.large", "c6g.xlarge", "t4g.small"))
        items = [{"instanceId": f"i-0{rng.getrandbits(64):016x}"[:19], "currentInstanceBootMode": "legacy-bios",
                  "imageId": f"ami-0{rng.getrandbits(64):016x}"[:21], "instanceState": {"code": 0, "name": "pending"},
                  "privateDnsName": f"ip-10-0-{i}-{rng.getrandbits(7)}.ec2.internal", "amiLaunchIndex": i,
                  "productCodes": {}, "instanceType": kind, "launchTime": ts * 1000,
                  "placement": {"availabilityZone": f"{region}a", "tenancy": "default"}, "monitoring": {"state":
                  "disabled"}, "subnetId": subnet, "vpcId": f"vpc-0{rng.getrandbits(64):016x}"[:21],
                  "privateIpAddress": f"10.0.{i}.{rng.getrandbits(7)}", "stateReason": {"code": "pending",
                  "message": "pending"}, "architecture": "x86_64", "rootDeviceType": "ebs", "rootDeviceName":
                  "/dev/xvda", "blockDeviceMapping": {}, "virtualizationType": "hvm", "hypervisor": "xen",
                  "tagSet": {"items": [{"key": k, "value": self.app(rng, account)} for k in TAG_KEYS[:5]]},
                  "groupSet": {"items": [{"groupId": f"sg-0{rng.getrandbits(64):016x}"[:20], "groupName": "default"}]},
                  "sourceDestCheck": True, "networkInterfaceSet": {"items": [{"networkInterfaceId":
                  f"eni-0{rng.getrandbits(64):016x}"[:21], "subnetId": subnet, "status": "in-use",
                  "privateIpAddress": f"10.0.{i}.{rng.getrandbits(7)}", "sourceDestCheck": True,
                  "interfaceType": "interface"}]}, "ebsOptimized": False, "enaSupport": True,
                  "cpuOptions": {"coreCount": 1, "threadsPerCore": 2}, "capacityReservationSpecification": {
                  "capacityReservationPreference": "open"}, "enclaveOptions": {"enabled": False},
                  "metadataOptions": {"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2,
                  "httpEndpoint": "enabled"}, "maintenanceOptions": {"autoRecovery": "default"}}
                 for i in range(count)]
        request = {"instancesSet": {"items": [{"imageId": items[0]["imageId"], "minCount": count, "maxCount": count}]},
                   "instanceType": kind, "blockDeviceMapping": {}, "subnetId": subnet, "monitoring": {"enabled": False},
                   "disableApiTermination": False, "clientToken": str(uuid.UUID(int=rng.getrandbits(128))),
                   "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [
                       {"key": "Name", "value": self.app(rng, account)}]}]}}
        return request, {"requestId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                         "reservationId": f"r-0{rng.getrandbits(64):016x}"[:19], "ownerId": account,
                         "groupSet": {}, "instancesSet": {"items": items}}, None
