"""The VPC in one of three network modes, with flow logs."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.settings import NetworkMode

# Interface endpoints the tasks need when there is no route to the internet.
INTERFACE_ENDPOINTS = {
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Ecs": ec2.InterfaceVpcEndpointAwsService.ECS,
}


class Network(Construct):
    """A 2-AZ VPC; ``task_subnets`` is where the Fargate tasks run in the chosen mode."""

    def __init__(
        self, scope: Construct, id: str, *, mode: NetworkMode, cidr: str, log_retention: logs.RetentionDays
    ) -> None:
        super().__init__(scope, id)
        self.mode = mode
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            max_azs=2,
            nat_gateways=1 if mode is NetworkMode.NAT_GATEWAY else 0,
            subnet_configuration=_subnets(mode),
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        self._flow_logs(log_retention)
        if mode is NetworkMode.VPC_ENDPOINTS:
            self._interface_endpoints(cidr)

    @property
    def task_subnets(self) -> ec2.SubnetSelection:
        """Subnets of the Fargate tasks."""
        if self.mode is NetworkMode.PUBLIC_SUBNETS:
            return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
        return ec2.SubnetSelection(subnet_group_name="Private")

    @property
    def tasks_get_public_ip(self) -> bool:
        """Tasks in public subnets need a public IP to reach AWS APIs (no inbound rule allows anything in)."""
        return self.mode is NetworkMode.PUBLIC_SUBNETS

    def load_balancer_subnets(self, *, internet_facing: bool) -> ec2.SubnetSelection:
        """Public subnets for an internet-facing ALB, task subnets for an internal one."""
        if internet_facing:
            return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
        return self.task_subnets

    @property
    def database_subnets(self) -> ec2.SubnetSelection:
        """Subnets of the database: never public."""
        return ec2.SubnetSelection(subnet_group_name="Data")

    def _flow_logs(self, retention: logs.RetentionDays) -> None:
        """Rejected and accepted traffic of the whole VPC to a CloudWatch log group."""
        group = logs.LogGroup(self, "FlowLogs", retention=retention, removal_policy=RemovalPolicy.DESTROY)
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(group))

    def _interface_endpoints(self, cidr: str) -> None:
        """Private endpoints for every AWS API the tasks call, HTTPS from inside the VPC only."""
        group = ec2.SecurityGroup(
            self, "EndpointSecurityGroup", vpc=self.vpc, allow_all_outbound=False, description="VPC endpoints"
        )
        group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), "HTTPS from inside the VPC")
        for name, service in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=ec2.SubnetSelection(subnet_group_name="Private"),
                security_groups=[group],
                open=False,
            )


def _subnets(mode: NetworkMode) -> list[ec2.SubnetConfiguration]:
    """Public subnets for the ALB (and the tasks in PUBLIC_SUBNETS mode), task and data subnets."""
    public = ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
    data = ec2.SubnetConfiguration(name="Data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
    if mode is NetworkMode.PUBLIC_SUBNETS:
        return [public, data]
    private_type = (
        ec2.SubnetType.PRIVATE_WITH_EGRESS
        if mode is NetworkMode.NAT_GATEWAY
        else ec2.SubnetType.PRIVATE_ISOLATED
    )
    private = ec2.SubnetConfiguration(name="Private", subnet_type=private_type, cidr_mask=22)
    return [public, private, data]
