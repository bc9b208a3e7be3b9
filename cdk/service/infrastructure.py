"""One Fargate service of Windsock: task definition, containers, security group, service.

Each container runs ``windsock container ROLE`` on a read-only root filesystem; its only
writable paths are two task-scoped volumes, ``WINDSOCK_HOME`` (DAGs, plugins, requirements,
logs) and ``/tmp``. The image declares both as ``VOLUME``s owned by the non-root user, so
Fargate gives each a writable copy. The scheduler and worker containers carry an ECS health
check (``windsock container ROLE --health``: job heartbeat age); the web server's health is the
load balancer's ``/health`` check. ``mw1.micro`` puts the web server container in the
scheduler's task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
WINDSOCK_HOME = "/opt/windsock/home"
TMP = "/tmp"
# Roles whose container has a heartbeat health check (the web server has the ALB's).
HEALTH_CHECKED = ("scheduler", "worker")


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where the tasks of a service run."""

    cluster: ecs.ICluster
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    assign_public_ip: bool


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    """What runs in one container: role, image, environment, secrets and the log group (None: off)."""

    role: str
    image: ecs.ContainerImage
    environment: Mapping[str, str]
    secrets: Mapping[str, ecs.Secret]
    log_group: logs.ILogGroup | None
    port: int | None = None


def health_check(role: str) -> ecs.HealthCheck:
    """``windsock container ROLE --health``: fails when the role's job heartbeat is stale."""
    return ecs.HealthCheck(
        command=["CMD", "windsock", "container", role, "--health"],
        interval=Duration.seconds(30),
        timeout=Duration.seconds(10),
        retries=3,
        start_period=Duration.seconds(120),
    )


class WindsockService(Construct):
    """One or more ``windsock container ROLE`` containers as a Fargate service with its own roles."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        placement: Placement,
        size: RoleSize,
        containers: Sequence[ContainerSpec],
        desired_count: int,
        spot: bool = False,
        spot_mixed: bool = False,
        task_role: iam.IRole | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=size.cpu,
            memory_limit_mib=size.memory_mib,
            task_role=task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.containers = {spec.role: self._container(spec) for spec in containers}
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=placement.vpc, description=f"Windsock {id.lower()} tasks"
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
            capacity_provider_strategies=_capacity(spot, mixed=spot_mixed),
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100 if desired_count else 0,
            max_healthy_percent=200,
            enable_execute_command=False,
        )

    @property
    def task_role(self) -> iam.IRole:
        """The role the application code in the containers runs with."""
        return self.task_definition.task_role

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles whose containers this service runs."""
        return tuple(self.containers)

    def _container(self, spec: ContainerSpec) -> ecs.ContainerDefinition:
        """``windsock container ROLE`` with env, secrets, optional awslogs, read-only root and volumes."""
        container = self.task_definition.add_container(
            spec.role,
            image=spec.image,
            command=["container", spec.role],
            environment=dict(spec.environment),
            secrets=dict(spec.secrets),
            logging=ecs.LogDriver.aws_logs(stream_prefix=spec.role, log_group=spec.log_group)
            if spec.log_group is not None
            else None,
            stop_timeout=Duration.seconds(STOP_TIMEOUT_SECONDS),
            readonly_root_filesystem=True,
            health_check=health_check(spec.role) if spec.role in HEALTH_CHECKED else None,
            port_mappings=[ecs.PortMapping(container_port=spec.port)] if spec.port else None,
        )
        for path, name in ((WINDSOCK_HOME, "home"), (TMP, "tmp")):
            volume = f"{spec.role}-{name}"
            self.task_definition.add_volume(name=volume)  # task-scoped bind mount on ephemeral storage
            container.add_mount_points(
                ecs.MountPoint(container_path=path, source_volume=volume, read_only=False)
            )
        return container


def _capacity(spot: bool, *, mixed: bool) -> list[ecs.CapacityProviderStrategy]:
    """Plain Fargate; or with ``spot`` Fargate Spot only (one always-on task), or 4:1 Spot:Fargate (workers)."""
    if not spot:
        return [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]
    if not mixed:
        return [ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)]
    return [
        ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=4),
        ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1),
    ]
