"""The VPC in one of four network modes, with flow logs."""

from __future__ import annotations

from aws_cdk import Aspects, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.settings import NetworkMode

NAT_ROOT_VOLUME_GIB = 8  # Amazon Linux 2023's image size

# Interface endpoints the tasks need when there is no route to the internet.
INTERFACE_ENDPOINTS = {
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Ecs": ec2.InterfaceVpcEndpointAwsService.ECS,  # task protection calls go through the task's ENI
    "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,  # PutMetricData
}
# Private subnets route to the internet in these modes (through a NAT gateway or instance).
EGRESS_MODES = (NetworkMode.NAT_GATEWAY, NetworkMode.NAT_INSTANCE)


class Network(Construct):
    """A 2-AZ VPC; ``task_subnets`` is where the Fargate tasks run in the chosen mode."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        mode: NetworkMode,
        cidr: str,
        log_retention: logs.RetentionDays,
        nat_instance_type: str = "t4g.nano",
        log_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.mode = mode
        self.nat_instances = _nat_instances(nat_instance_type) if mode is NetworkMode.NAT_INSTANCE else None
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            max_azs=2,
            nat_gateways=1 if mode in EGRESS_MODES else 0,
            nat_gateway_provider=self.nat_instances,
            subnet_configuration=_subnets(mode),
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        self._flow_logs(log_retention, log_key)
        if self.nat_instances is not None:
            self._harden_nat_instances(cidr)
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

    def _flow_logs(self, retention: logs.RetentionDays, key: kms.IKey | None) -> None:
        """Rejected and accepted traffic of the whole VPC to a CloudWatch log group."""
        group = logs.LogGroup(
            self, "FlowLogs", retention=retention, removal_policy=RemovalPolicy.DESTROY, encryption_key=key
        )
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(group))

    def _harden_nat_instances(self, cidr: str) -> None:
        """NAT instance: forwards TCP/UDP from inside the VPC only, IMDSv2 only, encrypted root volume."""
        assert self.nat_instances is not None
        for port in (ec2.Port.all_tcp(), ec2.Port.all_udp()):  # what tasks send out; replies are stateful
            self.nat_instances.security_group.add_ingress_rule(
                ec2.Peer.ipv4(cidr), port, "traffic to forward, from inside the VPC only"
            )
        for instance in self.nat_instances.gateway_instances:
            Aspects.of(instance).add(ec2.InstanceRequireImdsv2Aspect())
            cfn = instance.node.default_child
            assert isinstance(cfn, ec2.CfnInstance)
            cfn.block_device_mappings = [
                ec2.CfnInstance.BlockDeviceMappingProperty(
                    device_name="/dev/xvda",
                    ebs=ec2.CfnInstance.EbsProperty(
                        volume_size=NAT_ROOT_VOLUME_GIB,
                        volume_type="gp3",
                        encrypted=True,
                        delete_on_termination=True,
                    ),
                )
            ]

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


def _nat_instances(instance_type: str) -> ec2.NatInstanceProviderV2:
    """CDK's NAT instance provider (Amazon Linux 2023, iptables masquerade), outbound only by default."""
    return ec2.NatProvider.instance_v2(
        instance_type=ec2.InstanceType(instance_type),
        default_allowed_traffic=ec2.NatTrafficDirection.OUTBOUND_ONLY,
    )


def _subnets(mode: NetworkMode) -> list[ec2.SubnetConfiguration]:
    """Public subnets for the ALB (and the tasks in PUBLIC_SUBNETS mode), task and data subnets."""
    public = ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
    data = ec2.SubnetConfiguration(name="Data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
    if mode is NetworkMode.PUBLIC_SUBNETS:
        return [public, data]
    private_type = (
        ec2.SubnetType.PRIVATE_WITH_EGRESS if mode in EGRESS_MODES else ec2.SubnetType.PRIVATE_ISOLATED
    )
    private = ec2.SubnetConfiguration(name="Private", subnet_type=private_type, cidr_mask=22)
    return [public, private, data]
