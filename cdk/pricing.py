"""Idle monthly cost of a synthesized template, from list prices (pure: template in, lines out).

"Idle" means the stack as deployed with nothing running: the always-on tasks at their desired
count, the load balancer, NAT, endpoints, database, keys, secrets and alarms. Usage-driven costs
(workers while they run, data processed, log ingestion, requests) are left out and listed in
``NOT_INCLUDED``. ``scripts/cost_table.py`` prices the synthesized variants into the README, so
the table cannot drift from the templates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

HOURS_PER_MONTH = 730

# us-east-1 on-demand list prices (USD), read from the AWS price pages; Spot varies (a snapshot).
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
FARGATE_SPOT_VCPU_HOUR = 0.01244
FARGATE_SPOT_GB_HOUR = 0.00137
PUBLIC_IPV4_HOUR = 0.005
NAT_GATEWAY_HOUR = 0.045
ALB_HOUR = 0.0225
INTERFACE_ENDPOINT_AZ_HOUR = 0.01
RDS_GP3_GB_MONTH = 0.115
EBS_GP3_GB_MONTH = 0.08
SECRET_MONTH = 0.40
KMS_KEY_MONTH = 1.00
ALARM_METRIC_MONTH = 0.10
RDS_HOUR = {
    "db.t4g.micro": 0.016,
    "db.t4g.small": 0.032,
    "db.t4g.medium": 0.065,
    "db.t4g.large": 0.129,
    "db.t4g.xlarge": 0.258,
    "db.t4g.2xlarge": 0.517,
}
EC2_HOUR = {"t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168}
NOT_INCLUDED = (
    "workers while they run",
    "NAT/endpoint data processing ($0.01-0.045/GB)",
    "log ingestion ($0.50/GB) and storage",
    "S3 and SQS requests (idle long polling stays in the free tier)",
    "Container Insights metrics when enabled",
)


class PricingError(ValueError):
    """The template uses something this price list has no price for."""


@dataclass(frozen=True)
class Line:
    """One priced item: a category (for the table's columns), a description and USD per month."""

    category: str
    item: str
    monthly: float


def price_template(template: Mapping[str, Any]) -> list[Line]:
    """Every idle cost line of a template."""
    resources = template["Resources"]
    lines: list[Line] = []
    for pricer in PRICERS:
        lines.extend(pricer(resources))
    return lines


def total(lines: Iterable[Line]) -> float:
    """Sum of the lines, rounded to cents."""
    return round(sum(line.monthly for line in lines), 2)


def by_category(lines: Iterable[Line]) -> dict[str, float]:
    """Category -> monthly sum."""
    sums: dict[str, float] = {}
    for line in lines:
        sums[line.category] = sums.get(line.category, 0.0) + line.monthly
    return {category: round(value, 2) for category, value in sums.items()}


def _monthly(hourly: float) -> float:
    return hourly * HOURS_PER_MONTH


def _of_type(resources: Mapping[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in resources.items() if res["Type"] == type_name}


def _ref(value: Any) -> str:
    """The logical id a Ref or GetAtt points at."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    raise PricingError(f"expected a reference, got {json.dumps(value)[:80]}")


def _spot_share(strategy: list[dict[str, Any]]) -> float:
    """Share of a service's tasks on Fargate Spot, from its capacity provider weights."""
    weights = {item["CapacityProvider"]: int(item.get("Weight", 0)) for item in strategy}
    return weights.get("FARGATE_SPOT", 0) / (sum(weights.values()) or 1)


def _services(resources: Mapping[str, Any]) -> list[Line]:
    """Always-on Fargate tasks (desired count), on-demand or Spot, plus their public IPv4s."""
    lines = []
    for name, service in _of_type(resources, "AWS::ECS::Service").items():
        props = service["Properties"]
        count = int(props.get("DesiredCount", 0))
        if not count:
            continue
        task = resources[_ref(props["TaskDefinition"])]["Properties"]
        vcpu, gb = int(task["Cpu"]) / 1024, int(task["Memory"]) / 1024
        spot = _spot_share(props.get("CapacityProviderStrategy", []))
        on_demand = vcpu * FARGATE_VCPU_HOUR + gb * FARGATE_GB_HOUR
        on_spot = vcpu * FARGATE_SPOT_VCPU_HOUR + gb * FARGATE_SPOT_GB_HOUR
        hourly = count * ((1 - spot) * on_demand + spot * on_spot)
        kind = " on Spot" if spot == 1 else ""
        label = f"{name.split('Service')[0]} {count} x {vcpu:g} vCPU/{gb:g} GB{kind}"
        lines.append(Line("fargate", label, _monthly(hourly)))
        network = props.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        if network.get("AssignPublicIp") == "ENABLED":
            lines.append(Line("network", f"{count} task public IPv4", _monthly(count * PUBLIC_IPV4_HOUR)))
    return lines


def _nat(resources: Mapping[str, Any]) -> list[Line]:
    """NAT gateways and their Elastic IPs."""
    gateways = len(_of_type(resources, "AWS::EC2::NatGateway"))
    ips = len(_of_type(resources, "AWS::EC2::EIP"))
    lines = []
    if gateways:
        lines.append(Line("network", f"{gateways} NAT gateway", _monthly(gateways * NAT_GATEWAY_HOUR)))
    if ips:
        lines.append(Line("network", f"{ips} Elastic IP", _monthly(ips * PUBLIC_IPV4_HOUR)))
    return lines


def _instances(resources: Mapping[str, Any]) -> list[Line]:
    """EC2 instances (the NAT instance): instance hours, root volume, the public IPv4 it launches with."""
    lines = []
    for instance in _of_type(resources, "AWS::EC2::Instance").values():
        props = instance["Properties"]
        kind = props["InstanceType"]
        if kind not in EC2_HOUR:
            raise PricingError(f"no price for EC2 instance type {kind}")
        volume = sum(m.get("Ebs", {}).get("VolumeSize", 0) for m in props.get("BlockDeviceMappings", []))
        monthly = _monthly(EC2_HOUR[kind] + PUBLIC_IPV4_HOUR) + volume * EBS_GP3_GB_MONTH
        lines.append(Line("network", f"NAT instance {kind} + IPv4 + {volume} GB gp3", monthly))
    return lines


def _endpoints(resources: Mapping[str, Any]) -> list[Line]:
    """Interface VPC endpoints, per AZ (subnet); gateway endpoints are free."""
    hours = sum(
        len(e["Properties"].get("SubnetIds", []))
        for e in _of_type(resources, "AWS::EC2::VPCEndpoint").values()
        if e["Properties"].get("VpcEndpointType") == "Interface"
    )
    return (
        [Line("network", f"{hours} interface endpoint-AZs", _monthly(hours * INTERFACE_ENDPOINT_AZ_HOUR))]
        if hours
        else []
    )


def _load_balancers(resources: Mapping[str, Any]) -> list[Line]:
    """ALB hours (idle LCUs ~ 0) and one public IPv4 per AZ when internet-facing."""
    lines = []
    for alb in _of_type(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer").values():
        props = alb["Properties"]
        lines.append(Line("alb", "Application Load Balancer", _monthly(ALB_HOUR)))
        if props.get("Scheme") == "internet-facing":
            azs = len(props.get("Subnets", []))
            lines.append(Line("alb", f"ALB {azs} public IPv4", _monthly(azs * PUBLIC_IPV4_HOUR)))
    return lines


def _databases(resources: Mapping[str, Any]) -> list[Line]:
    """RDS instance hours and gp3 storage, doubled for Multi-AZ."""
    lines = []
    for db in _of_type(resources, "AWS::RDS::DBInstance").values():
        props = db["Properties"]
        kind = props["DBInstanceClass"]
        if kind not in RDS_HOUR:
            raise PricingError(f"no price for RDS class {kind}")
        copies = 2 if props.get("MultiAZ") else 1
        storage = int(props.get("AllocatedStorage", 20))
        lines.append(Line("rds", f"RDS {kind} x{copies}", _monthly(copies * RDS_HOUR[kind])))
        lines.append(Line("rds", f"RDS {storage} GB gp3 x{copies}", copies * storage * RDS_GP3_GB_MONTH))
    return lines


def _small_items(resources: Mapping[str, Any]) -> list[Line]:
    """Secrets, customer-managed keys, alarms (per metric) and target-tracking alarms."""
    secrets = len(_of_type(resources, "AWS::SecretsManager::Secret"))
    keys = len(_of_type(resources, "AWS::KMS::Key"))
    metrics = sum(
        _alarm_metrics(a["Properties"]) for a in _of_type(resources, "AWS::CloudWatch::Alarm").values()
    )
    tracking = sum(
        1
        for p in _of_type(resources, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if p["Properties"].get("PolicyType") == "TargetTrackingScaling"
    )
    metrics += 2 * tracking  # Application Auto Scaling creates a high and a low alarm per policy
    return [
        Line("other", f"{secrets} secrets", secrets * SECRET_MONTH),
        Line("other", f"{keys} KMS keys", keys * KMS_KEY_MONTH),
        Line("other", f"{metrics} alarm metrics", metrics * ALARM_METRIC_MONTH),
    ]


def _alarm_metrics(props: Mapping[str, Any]) -> int:
    """Metrics an alarm is billed for: each metric of a math alarm, else one."""
    if "Metrics" in props:
        return sum(1 for m in props["Metrics"] if "MetricStat" in m)
    return 1


PRICERS: tuple[Callable[[Mapping[str, Any]], list[Line]], ...] = (
    _services,
    _nat,
    _instances,
    _endpoints,
    _load_balancers,
    _databases,
    _small_items,
)
