"""The metadata database: RDS PostgreSQL with a generated Secrets Manager password."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

ENGINE_VERSION = rds.PostgresEngineVersion.VER_17_6
DATABASE_NAME = "windsock"
MASTER_USER = "windsock"
LOG_EXPORTS = ("postgresql", "upgrade")


class MetadataDatabase(Construct):
    """Encrypted PostgreSQL in the isolated data subnets; reachable only from ``allow_from`` peers."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        instance_class: str,
        allocated_storage_gib: int,
        multi_az: bool,
        deletion_protection: bool,
        backup_retention_days: int,
        rotation: bool,
        identifier: str,
        log_retention: logs.RetentionDays,
        key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        log_groups = self._log_groups(identifier, log_retention, key)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False, description="Windsock metadata DB"
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            instance_identifier=identifier,
            engine=rds.DatabaseInstanceEngine.postgres(version=ENGINE_VERSION),
            instance_type=ec2.InstanceType(instance_class),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(MASTER_USER, encryption_key=key),
            allocated_storage=allocated_storage_gib,
            storage_type=rds.StorageType.GP3,
            storage_encrypted=True,
            storage_encryption_key=key,  # None: the AWS-managed aws/rds key
            multi_az=multi_az,
            publicly_accessible=False,
            deletion_protection=deletion_protection,
            backup_retention=Duration.days(backup_retention_days),
            auto_minor_version_upgrade=True,
            cloudwatch_logs_exports=list(LOG_EXPORTS),
            removal_policy=RemovalPolicy.SNAPSHOT,
        )
        for group in log_groups:
            self.instance.node.add_dependency(group)
        if rotation:
            self.instance.add_rotation_single_user()

    def _log_groups(
        self, identifier: str, retention: logs.RetentionDays, key: kms.IKey | None
    ) -> list[logs.LogGroup]:
        """The groups RDS exports to, made first so they get a retention (RDS would create them forever)."""
        return [
            logs.LogGroup(
                self,
                f"{kind.capitalize()}Logs",
                log_group_name=f"/aws/rds/instance/{identifier}/{kind}",
                retention=retention,
                encryption_key=key,
                removal_policy=RemovalPolicy.DESTROY,
            )
            for kind in LOG_EXPORTS
        ]

    @property
    def secret(self) -> secretsmanager.ISecret:
        """The generated secret (JSON with username, password, host, port, dbname)."""
        assert self.instance.secret is not None  # from_generated_secret always makes one
        return self.instance.secret

    def allow_from(self, peer: ec2.IConnectable) -> None:
        """Open the PostgreSQL port to one security-group peer."""
        self.instance.connections.allow_default_port_from(peer, "Windsock service to metadata DB")
