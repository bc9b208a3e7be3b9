"""One Fargate service of Windsock: task definition, container, security group, service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.settings import RoleSize

# Seconds between SIGTERM and SIGKILL when ECS stops a task (Fargate allows up to 120).
STOP_TIMEOUT_SECONDS = 120


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where the tasks of a service run."""

    cluster: ecs.ICluster
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    assign_public_ip: bool


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    """What runs in the container: role, image, environment, secrets and the log group."""

    role: str
    image: ecs.ContainerImage
    size: RoleSize
    environment: Mapping[str, str]
    secrets: Mapping[str, ecs.Secret]
    log_group: logs.ILogGroup
    port: int | None = None


class WindsockService(Construct):
    """``windsock container ROLE`` as a Fargate service with its own task role and execution role."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        placement: Placement,
        spec: ContainerSpec,
        desired_count: int,
        spot: bool = False,
    ) -> None:
        super().__init__(scope, id)
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=spec.size.cpu,
            memory_limit_mib=spec.size.memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.container = self._container(spec)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=placement.vpc, description=f"Windsock {spec.role} tasks"
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=placement.cluster,
            task_definition=self.task_definition,
            desired_count=desired_count,
            vpc_subnets=placement.subnets,
            assign_public_ip=placement.assign_public_ip,
            security_groups=[self.security_group],
            capacity_provider_strategies=_capacity(spot),
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100 if desired_count else 0,
            max_healthy_percent=200,
            enable_execute_command=False,
        )

    @property
    def task_role(self) -> iam.IRole:
        """The role the application code in the container runs with."""
        return self.task_definition.task_role

    def _container(self, spec: ContainerSpec) -> ecs.ContainerDefinition:
        """The single container: ``windsock container ROLE`` with env, secrets and awslogs."""
        return self.task_definition.add_container(
            spec.role,
            image=spec.image,
            command=["container", spec.role],
            environment=dict(spec.environment),
            secrets=dict(spec.secrets),
            logging=ecs.LogDriver.aws_logs(stream_prefix=spec.role, log_group=spec.log_group),
            stop_timeout=Duration.seconds(STOP_TIMEOUT_SECONDS),
            readonly_root_filesystem=False,
            port_mappings=[ecs.PortMapping(container_port=spec.port)] if spec.port else None,
        )


def _capacity(spot: bool) -> list[ecs.CapacityProviderStrategy]:
    """Fargate Spot first (with a Fargate base of 0) when asked, else plain Fargate."""
    if spot:
        return [
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=4),
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1),
        ]
    return [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]
