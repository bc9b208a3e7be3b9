"""The Windsock environment stack: composes one construct per concern and grants between them."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk import permissions
from cdk.database.infrastructure import DATABASE_NAME, MASTER_USER, MetadataDatabase
from cdk.logs.infrastructure import LogGroups
from cdk.logs.infrastructure import retention as log_retention
from cdk.network.infrastructure import Network
from cdk.queues.infrastructure import WORKER_VISIBILITY_EXTEND_EVERY_SECONDS, SyncFanout, TaskQueues
from cdk.service.infrastructure import ContainerSpec, Placement, WindsockService
from cdk.service.scaling import WorkerScaling
from cdk.settings import Settings, WebAccessMode
from cdk.storage.infrastructure import AccessLogBucket, EnvironmentBucket, allow_bucket_to_publish
from cdk.web.infrastructure import WEB_PORT, WebAccess

REPO_ROOT = Path(__file__).resolve().parent.parent
ROLES = ("scheduler", "worker", "webserver")
WINDSOCK_HOME = "/opt/windsock/home"


def stack_name(env_name: str) -> str:
    """CloudFormation stack name of an environment (the client finds the outputs by it)."""
    return f"Windsock-{env_name}"


class WindsockStack(Stack):
    """One Windsock environment: network, DB, bucket, queues, cluster, three services, web access."""

    def __init__(self, scope: Construct, id: str, *, settings: Settings) -> None:
        super().__init__(
            scope, id, stack_name=stack_name(settings.env_name), description=_description(settings)
        )
        self.settings = settings
        retention = log_retention(settings.log_retention_days)
        self.network = Network(
            self, "Network", mode=settings.network_mode, cidr=settings.vpc_cidr, log_retention=retention
        )
        self.log_groups = LogGroups(self, "Logs", env_name=settings.env_name, retention=retention)
        self.database = self._database()
        self.fernet_secret = self._fernet_secret()
        self.access_logs = AccessLogBucket(
            self, "AccessLogs", name_prefix=settings.prefix, expire_days=settings.log_retention_days
        )
        self.sync = SyncFanout(self, "Sync", name_prefix=settings.prefix, services=ROLES)
        self.storage = self._storage()
        self.tasks = TaskQueues(
            self,
            "TaskQueues",
            name_prefix=settings.prefix,
            visibility_seconds=settings.task_queue_visibility_seconds,
            max_receive_count=settings.task_queue_max_receive_count,
        )
        self.cluster = self._cluster()
        self.image = ecs.ContainerImage.from_asset(
            str(REPO_ROOT), platform=ecr_assets.Platform.LINUX_AMD64, exclude=_image_excludes()
        )
        self.services = {role: self._service(role) for role in ROLES}
        self.web = self._web()
        self.worker_scaling = self._worker_scaling()
        self._grant()
        self._outputs()

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
        )

    def _fernet_secret(self) -> secretsmanager.Secret:
        """Random material the container turns into the Fernet key (docs/deployment.md)."""
        return secretsmanager.Secret(
            self,
            "FernetSecret",
            description=f"{self.settings.env_name}: Windsock fernet key material",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
        )

    def _service(self, role: str) -> WindsockService:
        """The Fargate service of one role, with its environment and secrets."""
        s = self.settings
        counts = {"scheduler": s.schedulers, "worker": s.min_workers, "webserver": s.web_min}
        service = WindsockService(
            self,
            role.capitalize(),
            placement=Placement(
                cluster=self.cluster,
                vpc=self.network.vpc,
                subnets=self.network.task_subnets,
                assign_public_ip=self.network.tasks_get_public_ip,
            ),
            spec=ContainerSpec(
                role=role,
                image=self.image,
                size=s.size(role),
                environment=self.container_environment(role),
                secrets=self.container_secrets(),
                log_group=self.log_groups[role],
                port=WEB_PORT if role == "webserver" else None,
            ),
            desired_count=counts[role],
            spot=s.worker_spot and role == "worker",
        )
        self.database.allow_from(service.security_group)
        return service

    def container_environment(self, role: str) -> dict[str, str]:
        """Non-secret environment of every container (the contract in docs/deployment.md)."""
        s = self.settings
        env = {
            "WINDSOCK_ENV_NAME": s.env_name,
            "WINDSOCK_ROLE": role,
            "WINDSOCK_HOME": WINDSOCK_HOME,
            "AWS_DEFAULT_REGION": Aws.REGION,
            "WINDSOCK_S3_BUCKET": self.storage.bucket.bucket_name,
            "WINDSOCK_S3_PREFIX": "",
            "WINDSOCK_DAGS_S3_PATH": "dags",
            "WINDSOCK_REQUIREMENTS_S3_PATH": "requirements.txt",
            "WINDSOCK_PLUGINS_S3_PATH": "plugins.zip",
            "WINDSOCK_STARTUP_SCRIPT_S3_PATH": "startup.sh",
            "WINDSOCK_SYNC_QUEUE_URL": self.sync.queues[role].queue_url,
            "WINDSOCK_TASK_QUEUE_URL": self.tasks.queue.queue_url,
            "WINDSOCK_DEAD_LETTER_QUEUE_URL": self.tasks.dead_letter_queue.queue_url,
            "WINDSOCK_TASK_VISIBILITY_SECONDS": str(s.task_queue_visibility_seconds),
            "WINDSOCK_TASK_VISIBILITY_EXTEND_SECONDS": str(
                min(WORKER_VISIBILITY_EXTEND_EVERY_SECONDS, s.task_queue_visibility_seconds // 4)
            ),
            "WINDSOCK_TASK_LOG_GROUP": self.log_groups["task"].log_group_name,
            "WINDSOCK_DAG_PROCESSING_LOG_GROUP": self.log_groups["dag_processing"].log_group_name,
            "WINDSOCK_DB_HOST": self.database.instance.db_instance_endpoint_address,
            "WINDSOCK_DB_PORT": self.database.instance.db_instance_endpoint_port,
            "WINDSOCK_DB_NAME": DATABASE_NAME,
            "WINDSOCK_DB_USER": MASTER_USER,
            "WINDSOCK_WEB_PORT": str(WEB_PORT),
            "WINDSOCK__CORE__EXECUTOR": "SqsExecutor",
            "WINDSOCK__CORE__LOAD_EXAMPLES": "false",
        }
        versions = {
            "WINDSOCK_REQUIREMENTS_S3_OBJECT_VERSION": s.requirements_object_version,
            "WINDSOCK_PLUGINS_S3_OBJECT_VERSION": s.plugins_object_version,
            "WINDSOCK_STARTUP_SCRIPT_S3_OBJECT_VERSION": s.startup_script_object_version,
        }
        env.update({key: value for key, value in versions.items() if value})
        return env

    def container_secrets(self) -> dict[str, ecs.Secret]:
        """Secrets ECS injects at start (read by the execution role), never in the task definition."""
        return {
            "WINDSOCK_DB_PASSWORD": ecs.Secret.from_secrets_manager(self.database.secret, "password"),
            "WINDSOCK_FERNET_SECRET": ecs.Secret.from_secrets_manager(self.fernet_secret),
        }

    def _web(self) -> WebAccess:
        """The load balancer in front of the web service, with CPU-based scaling of the web tasks."""
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
        service = self.services["webserver"].service
        web.route_to(service)
        scaling = service.auto_scale_task_count(min_capacity=s.web_min, max_capacity=s.web_max)
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)
        return web

    def _grant(self) -> None:
        """What each service's task role may do: its own queues, logs and the bucket, nothing else."""
        roles = {role: service.task_role for role, service in self.services.items()}
        for role, task_role in roles.items():
            permissions.read_bucket(self.storage.bucket, task_role)
            permissions.consume(self.sync.queues[role], task_role)
        permissions.send_to(self.tasks.queue, roles["scheduler"])
        permissions.consume(self.tasks.dead_letter_queue, roles["scheduler"])
        permissions.write_logs(self.log_groups["dag_processing"], roles["scheduler"])
        permissions.consume(self.tasks.queue, roles["worker"])
        permissions.write_logs(self.log_groups["task"], roles["worker"])
        permissions.protect_tasks(self.cluster, roles["worker"])
        permissions.send_to(self.tasks.queue, roles["webserver"])
        permissions.read_logs(self.log_groups["task"], roles["webserver"])
        permissions.read_logs(self.log_groups["dag_processing"], roles["webserver"])

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
        for key, value in values.items():
            CfnOutput(self, key, value=value)


def _description(settings: Settings) -> str:
    """Stack description shown in the console."""
    return f"Windsock environment {settings.env_name} ({settings.network_mode.value}, {settings.web_access_mode.value})"


def _image_excludes() -> list[str]:
    """Paths kept out of the image asset hash and build context (also in .dockerignore)."""
    return ["cdk.out", "node_modules", ".git", "**/__pycache__", ".venv", "tests", "bench", "*.egg-info"]
