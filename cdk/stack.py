"""The Windsock environment stack: composes one construct per concern and grants between them."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk import contract, permissions
from cdk.database.infrastructure import MetadataDatabase
from cdk.encryption.infrastructure import EnvironmentKey
from cdk.logs.infrastructure import LogGroups
from cdk.logs.infrastructure import retention as log_retention
from cdk.network.infrastructure import Network
from cdk.queues.infrastructure import SyncFanout, TaskQueues
from cdk.service.infrastructure import ContainerSpec, Placement, WindsockService
from cdk.service.scaling import WorkerScaling
from cdk.settings import LOG_KINDS, Settings, WebAccessMode
from cdk.signin.infrastructure import SignIn
from cdk.storage.infrastructure import AccessLogBucket, EnvironmentBucket, allow_bucket_to_publish, bucket_arn
from cdk.web.infrastructure import WEB_PORT, WebAccess

REPO_ROOT = Path(__file__).resolve().parent.parent
ROLES = ("scheduler", "worker", "webserver")


def stack_name(env_name: str) -> str:
    """CloudFormation stack name of an environment (the client finds the outputs by it)."""
    return f"Windsock-{env_name}"


def service_layout(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Service -> the roles whose containers its task runs (mw1.micro: web server in the scheduler task)."""
    if settings.web_in_scheduler_task:
        return {"scheduler": ("scheduler", "webserver"), "worker": ("worker",)}
    return {role: (role,) for role in ROLES}


class WindsockStack(Stack):
    """One Windsock environment: network, DB, bucket, queues, cluster, services, web access."""

    def __init__(self, scope: Construct, id: str, *, settings: Settings) -> None:
        super().__init__(
            scope, id, stack_name=stack_name(settings.env_name), description=_description(settings)
        )
        s = self.settings = settings
        self.layout = service_layout(settings)
        retention = log_retention(s.log_retention_days)
        self.environment_key = (
            EnvironmentKey(self, "EnvironmentKey", key_arn=s.kms_key_arn, name_prefix=s.prefix)
            if s.uses_kms_key
            else None
        )
        self.network = Network(
            self,
            "Network",
            mode=s.network_mode,
            cidr=s.vpc_cidr,
            log_retention=retention,
            nat_instance_type=s.nat_instance_type,
            log_key=self.key,
        )
        enabled_logs = [kind for kind in LOG_KINDS if s.logs(kind).enabled]
        self.log_groups = LogGroups(
            self, "Logs", env_name=s.env_name, retention=retention, kinds=enabled_logs, key=self.key
        )
        self.database = self._database()
        self.fernet_secret = self._fernet_secret()
        self.sign_in = SignIn(self, "SignIn", env_name=s.env_name, stack_name=stack_name(s.env_name),
                              extra_mapping=dict(s.iam_role_mapping), key=self.key)
        self.access_logs = AccessLogBucket(
            self, "AccessLogs", name_prefix=s.prefix, expire_days=s.log_retention_days
        )
        self.sync = SyncFanout(
            self,
            "Sync",
            name_prefix=s.prefix,
            services=tuple(self.layout),
            source_bucket_arn=bucket_arn(s.prefix),
            queue_key=self.key,
        )
        self.storage = self._storage()
        self.tasks = TaskQueues(
            self,
            "TaskQueues",
            name_prefix=s.prefix,
            visibility_seconds=s.task_queue_visibility_seconds,
            max_receive_count=s.task_queue_max_receive_count,
            key=self.key,
        )
        self.cluster = self._cluster()
        self.image = ecs.ContainerImage.from_asset(
            str(REPO_ROOT), platform=ecr_assets.Platform.LINUX_AMD64, exclude=_image_excludes()
        )
        self.services = {name: self._service(name, roles) for name, roles in self.layout.items()}
        self.worker_policy = self._worker_policies()
        self.web = self._web()
        self.worker_scaling = self._worker_scaling()
        self._grant()
        self._outputs()

    @property
    def key(self) -> kms.IKey | None:
        """The customer-managed key, when ``kms_key_arn`` or ``create_kms_key`` asks for one."""
        return self.environment_key.key if self.environment_key is not None else None

    def service_of(self, role: str) -> WindsockService:
        """The service whose task runs the container of ``role``."""
        return next(service for service in self.services.values() if role in service.roles)

    def _storage(self) -> EnvironmentBucket:
        """The environment bucket, notifying the sync topic once the topic lets it publish."""
        prefix = self.settings.prefix
        topic_policy = self.sync.allow_publish_statement(
            allow_bucket_to_publish(self.sync.topic, name_prefix=prefix)
        )
        return EnvironmentBucket(
            self,
            "Storage",
            name_prefix=prefix,
            access_logs=self.access_logs.bucket,
            topic=self.sync.topic,
            topic_policy=topic_policy,
            key=self.key,
        )

    def _cluster(self) -> ecs.Cluster:
        """The ECS cluster with the Fargate and Fargate Spot capacity providers."""
        insights = self.settings.container_insights
        return ecs.Cluster(
            self,
            "Cluster",
            cluster_name=self.settings.prefix,
            vpc=self.network.vpc,
            enable_fargate_capacity_providers=True,
            container_insights_v2=ecs.ContainerInsights.ENABLED
            if insights
            else ecs.ContainerInsights.DISABLED,
        )

    def _worker_scaling(self) -> WorkerScaling:
        """Workers scale on the task queue's queued + running messages, down to ``min_workers``."""
        s = self.settings
        return WorkerScaling(
            self,
            "WorkerScaling",
            service=self.services["worker"].service,
            queue=self.tasks.queue,
            min_workers=s.min_workers,
            max_workers=s.max_workers,
            concurrency=s.worker_concurrency,
            idle_minutes=s.scale_in_idle_minutes,
        )

    def _database(self) -> MetadataDatabase:
        """The metadata DB in the isolated data subnets."""
        s = self.settings
        return MetadataDatabase(
            self,
            "Database",
            vpc=self.network.vpc,
            subnets=self.network.database_subnets,
            instance_class=s.db_instance_class,
            allocated_storage_gib=s.db_allocated_storage_gib,
            multi_az=s.db_multi_az,
            deletion_protection=s.db_deletion_protection,
            backup_retention_days=s.db_backup_retention_days,
            rotation=s.db_secret_rotation,
            identifier=f"{s.prefix}-metadata",
            log_retention=log_retention(s.log_retention_days),
            key=self.key,
        )

    def _fernet_secret(self) -> secretsmanager.Secret:
        """Random material the container turns into the Fernet key (docs/deployment.md)."""
        return secretsmanager.Secret(
            self,
            "FernetSecret",
            description=f"{self.settings.env_name}: Windsock fernet key material",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
        )

    def _service(self, name: str, roles: tuple[str, ...]) -> WindsockService:
        """The Fargate service ``name`` running one container per role, with environment and secrets."""
        s = self.settings
        counts = {"scheduler": s.schedulers, "worker": s.min_workers, "webserver": s.web_min}
        service = WindsockService(
            self,
            name.capitalize(),
            placement=Placement(
                cluster=self.cluster,
                vpc=self.network.vpc,
                subnets=self.network.task_subnets,
                assign_public_ip=self.network.tasks_get_public_ip,
            ),
            size=s.size(name),
            containers=[self._container_spec(role, name) for role in roles],
            desired_count=counts[name],
            spot=s.spot(name),
            spot_mixed=name == "worker",
            task_role=self._imported_worker_role() if name == "worker" else None,
        )
        self.database.allow_from(service.security_group)
        return service

    def _container_spec(self, role: str, service: str) -> ContainerSpec:
        """What the ``role`` container of ``service`` runs with."""
        return ContainerSpec(
            role=role,
            image=self.image,
            environment=self.container_environment(role, service),
            secrets=self.container_secrets(role),
            log_group=self.log_groups.get(role),
            port=WEB_PORT if role == "webserver" else None,
        )

    def _imported_worker_role(self) -> iam.IRole | None:
        """``task_role_arn``: the team's own role for worker tasks (MWAA's execution role), or None."""
        arn = self.settings.task_role_arn
        if not arn:
            return None
        # mutable: the stack adds the policy the worker itself needs (queues, bucket, logs) to that role.
        return iam.Role.from_role_arn(self, "WorkerTaskRole", arn, mutable=True)

    def _worker_policies(self) -> iam.Policy | None:
        """``task_policy_arns`` and ``task_policy`` on the worker role the stack creates."""
        s = self.settings
        role = self.services["worker"].task_role
        for index, arn in enumerate(s.task_policy_arns):
            role.add_managed_policy(
                iam.ManagedPolicy.from_managed_policy_arn(self, f"TaskPolicyArn{index}", arn)
            )
        if not s.task_policy:
            return None
        document = iam.PolicyDocument.from_json(json.loads(s.task_policy))
        return iam.Policy(self, "WorkerTaskPolicy", document=document, roles=[role])

    def container_environment(self, role: str, service: str | None = None) -> dict[str, str]:
        """Non-secret environment of a container (the contract in docs/deployment.md)."""
        return contract.environment(self, role, service or self.service_of(role).node.id.lower())

    def container_secrets(self, role: str = "") -> dict[str, ecs.Secret]:
        """Secrets ECS injects at start (read by the execution role), never in the task definition;
        the web server's signing key only into the web server container."""
        secrets = {
            "WINDSOCK_DB_PASSWORD": ecs.Secret.from_secrets_manager(self.database.secret, "password"),
            "WINDSOCK_FERNET_SECRET": ecs.Secret.from_secrets_manager(self.fernet_secret),
        }
        if role == "webserver":
            secrets.update(self.sign_in.web_secrets())
        return secrets

    def _web(self) -> WebAccess:
        """The load balancer in front of the web server container; CPU scaling if it has its own service."""
        s = self.settings
        internet_facing = s.web_access_mode is WebAccessMode.PUBLIC_ONLY
        web = WebAccess(
            self,
            "WebAccess",
            vpc=self.network.vpc,
            subnets=self.network.load_balancer_subnets(internet_facing=internet_facing),
            mode=s.web_access_mode,
            allowed_cidrs=s.allowed_cidrs,
            certificate_arn=s.certificate_arn,
            access_logs=self.access_logs.bucket,
        )
        service = self.service_of("webserver").service
        web.route_to(service.load_balancer_target(container_name="webserver", container_port=WEB_PORT))
        if "webserver" in self.services:
            scaling = service.auto_scale_task_count(min_capacity=s.web_min, max_capacity=s.web_max)
            scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)
        return web

    def _grant(self) -> None:
        """What each service's task role may do: the union of its roles' needs, nothing else."""
        for name, service in self.services.items():
            permissions.read_bucket(self.storage.bucket, service.task_role)
            permissions.consume(self.sync.queues[name], service.task_role)
            for role in service.roles:
                getattr(self, f"_grant_{role}")(service.task_role)

    def _grant_scheduler(self, grantee: iam.IRole) -> None:
        """Queue tries, reap the DLQ, write DAG-processing logs, read task logs, secrets, metrics."""
        permissions.send_to(self.tasks.queue, grantee)
        permissions.consume(self.tasks.dead_letter_queue, grantee)
        self._logs(grantee, write=("dag_processing",), read=("task",))
        self._secrets_and_metrics(grantee)

    def _grant_worker(self, grantee: iam.IRole) -> None:
        """Run tries from the task queue, write task logs, protect its task, secrets, metrics."""
        permissions.consume(self.tasks.queue, grantee)
        self._logs(grantee, write=("task",), read=())
        permissions.protect_tasks(self.cluster, grantee)
        self._secrets_and_metrics(grantee)

    def _grant_webserver(self, grantee: iam.IRole) -> None:
        """Queue manual runs, read task and DAG-processing logs."""
        permissions.send_to(self.tasks.queue, grantee)
        self._logs(grantee, write=(), read=("task", "dag_processing"))

    def _logs(self, grantee: iam.IRole, *, write: tuple[str, ...], read: tuple[str, ...]) -> None:
        """Log grants on the groups that exist (a log type switched off has no group)."""
        for kind in write:
            if (group := self.log_groups.get(kind)) is not None:
                permissions.write_logs(group, grantee)
        for kind in read:
            if (group := self.log_groups.get(kind)) is not None:
                permissions.read_logs(group, grantee)

    def _secrets_and_metrics(self, grantee: iam.IRole) -> None:
        """The secrets backend's prefixes and the Windsock metrics namespace."""
        s = self.settings
        permissions.read_secret_prefixes(self, (s.connections_prefix, s.variables_prefix), grantee)
        permissions.put_metrics(grantee)

    def _outputs(self) -> None:
        """What the client and the README need, readable with ``cloudformation.describe_stacks``."""
        values = {
            "EnvironmentName": self.settings.env_name,
            "WebUrl": self.web.url,
            "BucketName": self.storage.bucket.bucket_name,
            "TaskQueueUrl": self.tasks.queue.queue_url,
            "DeadLetterQueueUrl": self.tasks.dead_letter_queue.queue_url,
            "DatabaseEndpoint": self.database.instance.db_instance_endpoint_address,
            "ClusterName": self.cluster.cluster_name,
            **{f"SyncQueueUrl{role.capitalize()}": q.queue_url for role, q in self.sync.queues.items()},
            **{f"LogGroup{g.node.id}": g.log_group_name for g in self.log_groups.groups.values()},
        }
        values.update(self.sign_in.outputs())
        values["EnvironmentConfig"] = json.dumps(self._published_config(), sort_keys=True)
        if self.key is not None:
            values["KmsKeyArn"] = self.key.key_arn
        for key, value in values.items():
            CfnOutput(self, key, value=value)


    def _published_config(self) -> dict[str, object]:
        """Settings the client's ``get_environment`` reports, in MWAA's field names."""
        s = self.settings
        return {"EnvironmentClass": s.environment_class.value, "MinWorkers": s.min_workers,
                "MaxWorkers": s.max_workers, "Schedulers": s.schedulers,
                "WebserverAccessMode": s.web_access_mode.value, "MinWebservers": s.web_min,
                "MaxWebservers": s.web_max}


def _description(settings: Settings) -> str:
    """Stack description shown in the console."""
    s = settings
    return (
        f"Windsock environment {s.env_name} ({s.environment_class.value}, {s.network_mode.value}, "
        f"{s.web_access_mode.value})"
    )


def _image_excludes() -> list[str]:
    """Paths kept out of the image asset hash and build context (also in .dockerignore)."""
    return ["cdk.out", "node_modules", ".git", "**/__pycache__", ".venv", "tests", "bench", "*.egg-info"]
