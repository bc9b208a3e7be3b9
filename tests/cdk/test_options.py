"""Each deployment option of issue 15, asserted on the synthesized templates of the session variants."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.cdk.conftest import EXAMPLE_TASK_POLICY, IMPORTED_KEY, IMPORTED_ROLE, Synth
from tests.cdk.helpers import (
    as_list,
    containers,
    env_of,
    one,
    policy_of_role,
    statements_with,
    task_definitions,
)

pytestmark = pytest.mark.cdk


def test_small_class_sizes_from_measured_footprints(default_synth: Synth) -> None:
    """Default mw1.small: scheduler 0.25 vCPU/1 GiB, web 0.25/0.5, worker 1/2 (5 tries), db.t4g.micro."""
    tasks = task_definitions(default_synth)
    assert {name: (t["Cpu"], t["Memory"]) for name, t in tasks.items()} == {
        "Scheduler": ("256", "1024"),
        "Webserver": ("256", "512"),
        "Worker": ("1024", "2048"),
    }
    assert one(default_synth, "AWS::RDS::DBInstance")["DBInstanceClass"] == "db.t4g.micro"
    assert env_of(containers(default_synth)["worker"])["WINDSOCK_WORKER_CONCURRENCY"] == "5"


def test_large_class_with_explicit_scheduler_count(locked_down_synth: Synth) -> None:
    """mw1.large sizes every role and the DB; schedulers=3 runs three scheduler tasks."""
    tasks = task_definitions(locked_down_synth)
    assert (tasks["Scheduler"]["Cpu"], tasks["Worker"]["Cpu"], tasks["Worker"]["Memory"]) == (
        "1024",
        "4096",
        "8192",
    )
    assert one(locked_down_synth, "AWS::RDS::DBInstance")["DBInstanceClass"] == "db.t4g.medium"
    assert env_of(containers(locked_down_synth)["worker"])["WINDSOCK_WORKER_CONCURRENCY"] == "20"
    services = locked_down_synth.resources("AWS::ECS::Service")
    scheduler = next(s for name, s in services.items() if name.startswith("Scheduler"))
    assert scheduler["Properties"]["DesiredCount"] == 3


def test_micro_puts_the_web_server_in_the_scheduler_task(dev_synth: Synth) -> None:
    """mw1.micro: two services; the scheduler task has both containers and the ALB targets its web one."""
    services = dev_synth.resources("AWS::ECS::Service")
    assert sorted(name.split("Service")[0] for name in services) == ["Scheduler", "Worker"]
    scheduler_task = task_definitions(dev_synth)["Scheduler"]
    assert [c["Name"] for c in scheduler_task["ContainerDefinitions"]] == ["scheduler", "webserver"]
    scheduler = next(s["Properties"] for name, s in services.items() if name.startswith("Scheduler"))
    assert [(lb["ContainerName"], lb["ContainerPort"]) for lb in scheduler["LoadBalancers"]] == [
        ("webserver", 8080)
    ]
    targets = dev_synth.resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert ["Worker" in json.dumps(t) for t in targets] == [True]  # no web scaling without a web service
    queues = {q["Properties"]["QueueName"] for q in dev_synth.resources("AWS::SQS::Queue").values()}
    assert queues == {"dev-tasks", "dev-tasks-dlq", "dev-sync-scheduler", "dev-sync-worker"}


def test_scheduler_spot_runs_the_scheduler_task_on_fargate_spot_only(dev_synth: Synth) -> None:
    """scheduler_spot=true: the always-on scheduler task uses FARGATE_SPOT; workers stay on Fargate."""
    strategies = {
        name.split("Service")[0]: [p["CapacityProvider"] for p in s["Properties"]["CapacityProviderStrategy"]]
        for name, s in dev_synth.resources("AWS::ECS::Service").items()
    }
    assert strategies == {"Scheduler": ["FARGATE_SPOT"], "Worker": ["FARGATE"]}


def test_nat_instance_mode_routes_private_subnets_through_one_hardened_t4g_nano(team_synth: Synth) -> None:
    """NAT_INSTANCE: no NAT gateway; one t4g.nano (IMDSv2, encrypted root) both private subnets route to."""
    assert not team_synth.resources("AWS::EC2::NatGateway")
    instances = team_synth.resources("AWS::EC2::Instance")
    assert len(instances) == 1
    ((instance_id, instance),) = instances.items()
    props = instance["Properties"]
    assert props["InstanceType"] == "t4g.nano" and props["SourceDestCheck"] is False
    assert props["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    template = one(team_synth, "AWS::EC2::LaunchTemplate")
    assert template["LaunchTemplateData"]["MetadataOptions"] == {"HttpTokens": "required"}
    routes = [
        r["Properties"]
        for r in team_synth.resources("AWS::EC2::Route").values()
        if "InstanceId" in r["Properties"]
    ]
    assert len(routes) == 2 and all(r["InstanceId"] == {"Ref": instance_id} for r in routes)
    nat_group = next(
        g["Properties"] for k, g in team_synth.resources("AWS::EC2::SecurityGroup").items() if "Nat" in k
    )
    rules = {(rule["CidrIp"], rule["IpProtocol"]) for rule in nat_group["SecurityGroupIngress"]}
    assert rules == {("10.0.0.0/16", "tcp"), ("10.0.0.0/16", "udp")}


def test_created_kms_key_encrypts_bucket_queues_secrets_logs_and_database(locked_down_synth: Synth) -> None:
    """create_kms_key=true: one rotating environment key used by every data store the stack creates."""
    keys = {
        k: v
        for k, v in locked_down_synth.resources("AWS::KMS::Key").items()
        if k.startswith("EnvironmentKey")
    }
    assert len(keys) == 1
    ((key_id, key),) = keys.items()
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"
    ref = {"Fn::GetAtt": [key_id, "Arn"]}
    env_bucket = next(
        b["Properties"]
        for b in locked_down_synth.resources("AWS::S3::Bucket").values()
        if "NotificationConfiguration" in b["Properties"]
    )
    sse = env_bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": ref}
    assert sse["BucketKeyEnabled"] is True
    for queue in locked_down_synth.resources("AWS::SQS::Queue").values():
        assert queue["Properties"]["KmsMasterKeyId"] == ref
    for secret in locked_down_synth.resources("AWS::SecretsManager::Secret").values():
        assert secret["Properties"]["KmsKeyId"] == ref
    for group in locked_down_synth.resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["KmsKeyId"] == ref
    db = one(locked_down_synth, "AWS::RDS::DBInstance")
    assert db["KmsKeyId"] == ref and db["StorageEncrypted"] is True


def test_created_key_lets_cloudwatch_logs_use_it_for_this_accounts_groups_only(
    locked_down_synth: Synth,
) -> None:
    """The key policy names the Logs service with an encryption-context condition, explicit actions."""
    key = next(
        v for k, v in locked_down_synth.resources("AWS::KMS::Key").items() if k.startswith("EnvironmentKey")
    )
    logs = next(
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "CloudWatchLogsOfThisAccount"
    )
    assert "logs." in json.dumps(logs["Principal"]) and not any("*" in a for a in as_list(logs["Action"]))
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]


def test_task_roles_may_decrypt_with_the_key_for_what_they_read(locked_down_synth: Synth) -> None:
    """Readers get kms:Decrypt, the task-queue producers kms:GenerateDataKey too; nothing with '*'."""
    for role in (
        "SchedulerTaskDefinitionTaskRole",
        "WorkerTaskDefinitionTaskRole",
        "WebserverTaskDefinitionTaskRole",
    ):
        assert statements_with(locked_down_synth, role, "kms:Decrypt"), role
    assert statements_with(locked_down_synth, "SchedulerTaskDefinitionTaskRole", "kms:GenerateDataKey")
    assert not statements_with(locked_down_synth, "WorkerTaskDefinitionTaskRole", "kms:GenerateDataKey")


def test_imported_kms_key_is_used_by_arn_and_its_policy_requirements_warned(team_synth: Synth) -> None:
    """kms_key_arn: no key is created for it; resources point at the ARN; synth warns about its key policy."""
    assert all(not k.startswith("EnvironmentKey") for k in team_synth.resources("AWS::KMS::Key"))
    for queue in team_synth.resources("AWS::SQS::Queue").values():
        assert queue["Properties"]["KmsMasterKeyId"] == IMPORTED_KEY
    assert one(team_synth, "AWS::RDS::DBInstance")["KmsKeyId"] == IMPORTED_KEY
    Annotations.from_stack(team_synth.stack).has_warning(
        "*", Match.string_like_regexp("logs.<region>.amazonaws.com")
    )
    assert team_synth.json["Outputs"]["KmsKeyArn"]["Value"] == IMPORTED_KEY


def test_default_uses_aws_managed_encryption_and_no_environment_key(default_synth: Synth) -> None:
    """Without a key setting: SSE-SQS queues, SSE-S3 bucket, aws/rds; only the sync topic's own key."""
    assert [k for k in default_synth.resources("AWS::KMS::Key") if k.startswith("EnvironmentKey")] == []
    assert "KmsKeyId" not in one(default_synth, "AWS::RDS::DBInstance")
    assert "KmsKeyArn" not in default_synth.json["Outputs"]


def test_task_role_arn_runs_workers_with_the_teams_role(team_synth: Synth) -> None:
    """task_role_arn: the worker task definition uses that role; the stack only adds its own grants to it."""
    worker = task_definitions(team_synth)["Worker"]
    assert worker["TaskRoleArn"] == IMPORTED_ROLE
    roles = team_synth.resources("AWS::IAM::Role")
    assert not [name for name in roles if name.startswith("WorkerTaskDefinitionTaskRole")]
    attached = [
        p["Properties"]
        for p in team_synth.resources("AWS::IAM::Policy").values()
        if p["Properties"].get("Roles") == ["dag-runner"]
    ]
    assert len(attached) == 1
    actions = {a for s in attached[0]["PolicyDocument"]["Statement"] for a in as_list(s["Action"])}
    assert {"sqs:ReceiveMessage", "ecs:UpdateTaskProtection", "s3:GetObject"} <= actions


def test_task_policy_arns_and_document_attach_to_the_created_worker_role(locked_down_synth: Synth) -> None:
    """task_policy_arns become ManagedPolicyArns of the worker role; task_policy is its own policy."""
    role = next(
        r["Properties"]
        for k, r in locked_down_synth.resources("AWS::IAM::Role").items()
        if k.startswith("WorkerTaskDefinitionTaskRole")
    )
    assert role["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "arn:aws:iam::123456789012:policy/team-data",
    ]
    policy = next(
        p["Properties"]
        for k, p in locked_down_synth.resources("AWS::IAM::Policy").items()
        if k.startswith("WorkerTaskPolicy")
    )
    example = json.loads(EXAMPLE_TASK_POLICY.read_text())
    assert [s["Sid"] for s in policy["PolicyDocument"]["Statement"]] == [
        s["Sid"] for s in example["Statement"]
    ]
    assert "WorkerTaskDefinitionTaskRole" in json.dumps(policy["Roles"])


def _log_group_names(synth: Synth) -> set[str]:
    return {g["Properties"].get("LogGroupName", "") for g in synth.resources("AWS::Logs::LogGroup").values()}


def test_log_types_switched_off_have_no_group_no_driver_and_no_grant(team_synth: Synth) -> None:
    """webserver_logs=false and dag_processing_logs=false: no group, web container without awslogs, no env."""
    names = _log_group_names(team_synth)
    assert {"team-Scheduler", "team-Worker", "team-Task"} <= names
    assert not {"team-WebServer", "team-DAGProcessing"} & names
    found = containers(team_synth)
    assert "LogConfiguration" not in found["webserver"]
    assert found["scheduler"]["LogConfiguration"]["LogDriver"] == "awslogs"
    assert "WINDSOCK_DAG_PROCESSING_LOG_GROUP" not in env_of(found["scheduler"])
    assert "DAGProcessing" not in json.dumps(team_synth.resources("AWS::IAM::Policy"))


def test_log_levels_reach_each_container(team_synth: Synth, default_synth: Synth) -> None:
    """scheduler_log_level / task_log_level arrive as the runtime's logging settings; default INFO."""
    team = {role: env_of(c) for role, c in containers(team_synth).items()}
    assert team["scheduler"]["WINDSOCK__LOGGING__LOGGING_LEVEL"] == "WARNING"
    assert team["worker"]["WINDSOCK__LOGGING__LOGGING_LEVEL"] == "INFO"
    assert team["worker"]["WINDSOCK__LOGGING__TASK_LOG_LEVEL"] == "DEBUG"
    assert "LogsTask" in json.dumps(team["worker"]["WINDSOCK_TASK_LOG_GROUP"])
    default = env_of(containers(default_synth)["scheduler"])
    assert default["WINDSOCK__LOGGING__DAG_PROCESSING_LOG_LEVEL"] == "INFO"


def test_web_access_admits_no_one_by_default_and_warns(default_synth: Synth) -> None:
    """allowed_cidrs defaults to nothing: no ingress on the ALB, and synth says how to open it."""
    group = next(
        g["Properties"]
        for k, g in default_synth.resources("AWS::EC2::SecurityGroup").items()
        if k.startswith("WebAccess")
    )
    assert not [r for r in group.get("SecurityGroupIngress", []) if "CidrIp" in r]
    Annotations.from_stack(default_synth.stack).has_warning("*", Match.string_like_regexp("admits no one"))


def test_explicit_open_web_access_warns_that_the_sign_in_is_internet_facing(team_synth: Synth) -> None:
    """allowed_cidrs=0.0.0.0/0 is allowed when given, warned at synth; the EC23 reason says so truthfully."""
    Annotations.from_stack(team_synth.stack).has_warning("*", Match.string_like_regexp("whole internet"))
    reasons = json.dumps(
        [
            e.data
            for c in team_synth.stack.node.find_all()
            for e in c.node.metadata
            if e.type == "aws:cdk:acknowledged-rules"
        ]
    )
    assert "AwsSolutions-EC23" in reasons and "explicitly" in reasons and "IAM" in reasons


def test_s3_may_use_the_sync_key_only_for_this_bucket_and_account(any_synth: Synth) -> None:
    """The sync topic key lets s3.amazonaws.com encrypt only with aws:SourceAccount and aws:SourceArn."""
    key = next(v for k, v in any_synth.resources("AWS::KMS::Key").items() if k.startswith("Sync"))
    s3 = next(
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if "s3.amazonaws.com" in json.dumps(s["Principal"])
    )
    assert s3["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "aws:SourceArn" in s3["Condition"]["ArnLike"]


def _secret_resources(statement: dict[str, Any]) -> str:
    return json.dumps(statement["Resource"])


def test_scheduler_and_worker_read_only_the_secrets_backend_prefixes(
    default_synth: Synth, team_synth: Synth
) -> None:
    """GetSecretValue on <prefix>/* of this account and region (MWAA's airflow/connections, airflow/variables)."""
    for role in ("SchedulerTaskDefinitionTaskRole", "WorkerTaskDefinitionTaskRole"):
        (statement,) = statements_with(default_synth, role, "secretsmanager:GetSecretValue")
        resources = _secret_resources(statement)
        assert "secret:airflow/connections/*" in resources and "secret:airflow/variables/*" in resources
        assert "AWS::Region" in resources and "AWS::AccountId" in resources
    assert not statements_with(
        default_synth, "WebserverTaskDefinitionTaskRole", "secretsmanager:GetSecretValue"
    )
    (team,) = statements_with(team_synth, "SchedulerTaskDefinitionTaskRole", "secretsmanager:GetSecretValue")
    assert "secret:team/connections/*" in _secret_resources(team)
    kwargs = json.loads(env_of(containers(team_synth)["worker"])["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    assert kwargs == {"connections_prefix": "team/connections", "variables_prefix": "team/variables"}


def test_metrics_only_into_the_windsock_namespace(default_synth: Synth) -> None:
    """cloudwatch:PutMetricData for scheduler and worker, conditioned on namespace Windsock."""
    for role in ("SchedulerTaskDefinitionTaskRole", "WorkerTaskDefinitionTaskRole"):
        (statement,) = statements_with(default_synth, role, "cloudwatch:PutMetricData")
        assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Windsock"}}
    assert not statements_with(default_synth, "WebserverTaskDefinitionTaskRole", "cloudwatch:PutMetricData")


def test_task_log_grants_match_who_writes_and_who_reads(default_synth: Synth) -> None:
    """Worker writes <env>-Task; scheduler and web read it (GetLogEvents/FilterLogEvents)."""
    (write,) = statements_with(default_synth, "WorkerTaskDefinitionTaskRole", "logs:PutLogEvents")
    assert "LogsTask" in json.dumps(write["Resource"])
    for role in ("SchedulerTaskDefinitionTaskRole", "WebserverTaskDefinitionTaskRole"):
        reads = statements_with(default_synth, role, "logs:FilterLogEvents")
        assert any("LogsTask" in json.dumps(s["Resource"]) for s in reads), role
        assert "logs:GetLogEvents" in {a for s in reads for a in as_list(s["Action"])}
    assert not statements_with(default_synth, "WebserverTaskDefinitionTaskRole", "logs:PutLogEvents")


def test_containers_have_a_read_only_root_and_writable_home_and_tmp(any_synth: Synth) -> None:
    """Every container: read-only root filesystem, task volumes mounted at WINDSOCK_HOME and /tmp."""
    for role, container in containers(any_synth).items():
        assert container["ReadonlyRootFilesystem"] is True, role
        mounts = {m["ContainerPath"]: m["SourceVolume"] for m in container["MountPoints"]}
        assert mounts == {"/opt/windsock/home": f"{role}-home", "/tmp": f"{role}-tmp"}


def test_scheduler_and_worker_have_a_heartbeat_health_check(any_synth: Synth) -> None:
    """ECS runs `windsock container ROLE --health` for scheduler and worker; the web has the ALB's."""
    found = containers(any_synth)
    for role in ("scheduler", "worker"):
        check = found[role]["HealthCheck"]
        assert check["Command"] == ["CMD", "windsock", "container", role, "--health"]
        assert check["Retries"] >= 2 and check["StartPeriod"] >= 60
    assert "HealthCheck" not in found["webserver"]


def test_roles_get_the_commands_the_distributed_runtime_needs(default_synth: Synth) -> None:
    """Scheduler queues with SqsExecutor; the secrets backend is set where DAG code runs, not on the web."""
    found = {role: env_of(c) for role, c in containers(default_synth).items()}
    assert found["scheduler"]["WINDSOCK__CORE__EXECUTOR"] == "SqsExecutor"
    assert "WINDSOCK_TASK_QUEUE_URL" in found["scheduler"]
    assert found["worker"]["AIRFLOW__SECRETS__BACKEND"].endswith("SecretsManagerBackend")
    assert "AIRFLOW__SECRETS__BACKEND" not in found["webserver"]


def test_worker_task_protection_is_still_granted_with_an_imported_role(team_synth: Synth) -> None:
    """The team's own worker role also gets ecs:UpdateTaskProtection on this cluster's tasks."""
    assert statements_with(team_synth, "dag-runner", "ecs:UpdateTaskProtection")
    assert not policy_of_role(team_synth, "WorkerTaskDefinitionTaskRole")
