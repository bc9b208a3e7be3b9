"""What the stack provisions and its security properties, asserted on the synthesized template."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from tests.cdk.conftest import Synth
from tests.cdk.helpers import as_list, containers, env_of, policy_of_role, statements

pytestmark = pytest.mark.cdk

ROLES = ("scheduler", "worker", "webserver")
SECRETS_BACKEND_NAMES = {"AIRFLOW__SECRETS__BACKEND", "AIRFLOW__SECRETS__BACKEND_KWARGS"}
CONTRACT_ENV = {
    "WINDSOCK_S3_BUCKET",
    "WINDSOCK_S3_PREFIX",
    "WINDSOCK_DAGS_S3_PATH",
    "WINDSOCK_REQUIREMENTS_S3_PATH",
    "WINDSOCK_PLUGINS_S3_PATH",
    "WINDSOCK_STARTUP_SCRIPT_S3_PATH",
    "WINDSOCK_SYNC_QUEUE_URL",
    "WINDSOCK_HOME",
    "WINDSOCK_TASK_QUEUE_URL",
    "WINDSOCK_TASK_VISIBILITY_SECONDS",
    "WINDSOCK_TASK_VISIBILITY_EXTEND_SECONDS",
    "WINDSOCK_DB_HOST",
    "WINDSOCK_DB_PORT",
    "WINDSOCK_DB_NAME",
    "WINDSOCK_DB_USER",
}


def test_stack_is_environment_agnostic(default_synth: Synth) -> None:
    """No account or region is baked into the stack; `cdk synth` works offline."""
    assert default_synth.stack.environment == "aws://unknown-account/unknown-region"


def test_bucket_is_versioned_encrypted_private_and_notifies_the_sync_topic(default_synth: Synth) -> None:
    """The environment bucket: versioning (MWAA needs it), SSE, all public access blocked, events to SNS."""
    default_synth.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "NotificationConfiguration": Match.object_like({"TopicConfigurations": Match.any_value()}),
        },
    )
    buckets = default_synth.resources("AWS::S3::Bucket")
    env_bucket = next(b for b in buckets.values() if "NotificationConfiguration" in b["Properties"])
    props = env_bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "s3/"
    prefixes = {
        c["Filter"]["S3Key"]["Rules"][0]["Value"]
        for c in props["NotificationConfiguration"]["TopicConfigurations"]
    }
    assert prefixes == {"dags/", "plugins", "requirements", "startup"}
    for bucket in buckets.values():
        block = bucket["Properties"]["PublicAccessBlockConfiguration"]
        assert block == {
            k: True
            for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        }
        assert bucket["Properties"]["BucketEncryption"]


def test_every_bucket_and_queue_and_topic_denies_non_ssl(any_synth: Synth) -> None:
    """Bucket, queue and topic policies deny requests with aws:SecureTransport=false."""
    services = len(any_synth.stack.services)
    policies = {
        "AWS::S3::BucketPolicy": ("PolicyDocument", 2),
        "AWS::SQS::QueuePolicy": ("PolicyDocument", 2 + services),
        "AWS::SNS::TopicPolicy": ("PolicyDocument", 1),
    }
    for type_name, (field, expected) in policies.items():
        found = any_synth.resources(type_name)
        assert len(found) == expected, type_name
        for policy in found.values():
            denies = [
                s
                for s in policy["Properties"][field]["Statement"]
                if s["Effect"] == "Deny"
                and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            ]
            assert denies, f"{type_name} without SSL-only statement"


def test_queues_are_encrypted_and_task_queue_has_dlq_and_visibility(default_synth: Synth) -> None:
    """SSE on every queue; the task queue redrives to the DLQ after 5 receives, 120 s visibility."""
    default_synth.template.resource_count_is("AWS::SQS::Queue", 5)
    default_synth.template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": "windsock-tasks",
            "VisibilityTimeout": 120,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": 5},
        },
    )
    queues = default_synth.resources("AWS::SQS::Queue")
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues.values())
    by_name = {q["Properties"]["QueueName"]: (k, q["Properties"]) for k, q in queues.items()}
    assert set(by_name) == {"windsock-tasks", "windsock-tasks-dlq"} | {f"windsock-sync-{r}" for r in ROLES}
    worker_env = env_of(containers(default_synth)["worker"])
    assert (
        worker_env["WINDSOCK_TASK_VISIBILITY_SECONDS"],
        worker_env["WINDSOCK_TASK_VISIBILITY_EXTEND_SECONDS"],
    ) == ("120", "30")
    tasks = by_name["windsock-tasks"][1]
    assert tasks["VisibilityTimeout"] == 120
    assert tasks["RedrivePolicy"]["maxReceiveCount"] == 5
    assert tasks["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": [by_name["windsock-tasks-dlq"][0], "Arn"]
    }


def test_sync_fanout_gives_each_service_its_own_queue(default_synth: Synth) -> None:
    """S3 events go to an encrypted topic with one raw-delivery subscription per service queue."""
    topic = next(iter(default_synth.resources("AWS::SNS::Topic").values()))
    assert "KmsMasterKeyId" in topic["Properties"]
    key = next(iter(default_synth.resources("AWS::KMS::Key").values()))
    assert key["Properties"]["EnableKeyRotation"] is True
    subs = default_synth.resources("AWS::SNS::Subscription")
    assert len(subs) == 3
    assert all(
        s["Properties"]["Protocol"] == "sqs" and s["Properties"]["RawMessageDelivery"] for s in subs.values()
    )
    queue_urls = {role: env_of(c)["WINDSOCK_SYNC_QUEUE_URL"] for role, c in containers(default_synth).items()}
    assert len({json.dumps(u) for u in queue_urls.values()}) == 3


def test_database_is_encrypted_private_postgres_with_generated_secret(
    default_synth: Synth, locked_down_synth: Synth
) -> None:
    """RDS PostgreSQL 17.x, encrypted, not public, backups; multi-AZ and deletion protection are settings."""
    default_synth.template.resource_count_is("AWS::RDS::DBInstance", 1)
    default_synth.template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {"StorageEncrypted": True, "PubliclyAccessible": False, "Engine": "postgres", "DBName": "windsock"},
    )
    db = next(iter(default_synth.resources("AWS::RDS::DBInstance").values()))["Properties"]
    assert db["Engine"] == "postgres" and db["EngineVersion"].startswith("17.")
    assert db["StorageEncrypted"] is True and db["PubliclyAccessible"] is False
    assert db["BackupRetentionPeriod"] == 7 and db["DeletionProtection"] is True and db["MultiAZ"] is False
    assert "secretsmanager" in json.dumps(db["MasterUserPassword"])
    locked = next(iter(locked_down_synth.resources("AWS::RDS::DBInstance").values()))["Properties"]
    assert locked["MultiAZ"] is True
    assert locked_down_synth.json.get("Transform") or locked_down_synth.resources(
        "AWS::Serverless::Application"
    )


def test_database_accepts_only_the_service_security_groups(any_synth: Synth) -> None:
    """The DB port is open to the service security groups (plus the rotation Lambda) and no CIDR."""
    ingress = [
        r["Properties"]
        for r in any_synth.resources("AWS::EC2::SecurityGroupIngress").values()
        if "Database" in json.dumps(r["Properties"]["GroupId"])
    ]
    sources = [
        json.dumps(rule["SourceSecurityGroupId"]) for rule in ingress if "Rotation" not in json.dumps(rule)
    ]
    names = sorted(any_synth.stack.services)
    assert len(sources) == len(names) and all(
        name.capitalize() in src for name, src in zip(names, sorted(sources), strict=True)
    )
    assert all("SourceSecurityGroupId" in rule and "CidrIp" not in rule for rule in ingress)


def test_containers_get_secrets_from_secrets_manager_never_as_environment(any_synth: Synth) -> None:
    """DB password, fernet material and (web server only) the signing key are ECS secrets; the environment
    holds only the contract's names."""
    found = containers(any_synth)
    assert set(found) == set(ROLES)
    for role, container in found.items():
        env = env_of(container)
        assert set(env) >= CONTRACT_ENV, role
        named_secret = [name for name in env if "PASSWORD" in name or "SECRET" in name or "FERNET" in name]
        assert set(named_secret) <= SECRETS_BACKEND_NAMES  # the backend's class path and prefixes, no value
        secrets = {s["Name"]: json.dumps(s["ValueFrom"]) for s in container["Secrets"]}
        web_key = {"WINDSOCK__WEBSERVER__SECRET_KEY"} if role == "webserver" else set()  # only the web server signs
        assert set(secrets) == {"WINDSOCK_DB_PASSWORD", "WINDSOCK_FERNET_SECRET"} | web_key
        assert ":password::" in secrets["WINDSOCK_DB_PASSWORD"]
        assert container["Command"] == ["container", role]
        assert container["StopTimeout"] == 120
        if any_synth.stack.settings.logs(role).enabled:
            assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    images = {json.dumps(c["Image"]) for c in found.values()}
    assert len(images) == 1, "one image for every role"


def test_no_wildcard_actions_and_no_managed_policies_windsock_did_not_ask_for(any_synth: Synth) -> None:
    """Every IAM action is spelled out; managed policies only where the deployer named them (task_policy_arns)."""
    for statement in statements(any_synth):
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement
    attached = [
        (name, arn)
        for name, role in any_synth.resources("AWS::IAM::Role").items()
        for arn in role["Properties"].get("ManagedPolicyArns", [])
        if not name.startswith("CustomVpcRestrictDefaultSG")  # CDK's own custom-resource Lambda (basic logs)
    ]
    wanted = set(any_synth.stack.settings.task_policy_arns)
    assert {json.dumps(arn) for _, arn in attached} == {json.dumps(arn) for arn in wanted}
    assert all(name.startswith("WorkerTaskDefinitionTaskRole") for name, _ in attached)


def test_each_service_has_its_own_task_and_execution_role(default_synth: Synth) -> None:
    """Three task roles and three execution roles, all different (default: three services)."""
    tasks = default_synth.resources("AWS::ECS::TaskDefinition").values()
    task_roles = {json.dumps(t["Properties"]["TaskRoleArn"]) for t in tasks}
    exec_roles = {json.dumps(t["Properties"]["ExecutionRoleArn"]) for t in tasks}
    assert len(task_roles) == 3 and len(exec_roles) == 3 and not task_roles & exec_roles


def test_only_the_worker_may_set_task_protection_on_this_clusters_tasks(default_synth: Synth) -> None:
    """ecs:UpdateTaskProtection / GetTaskProtection on task/<cluster>/* for the worker task role only."""
    worker = [
        s
        for s in policy_of_role(default_synth, "WorkerTaskDefinitionTaskRole")
        if "ecs:UpdateTaskProtection" in as_list(s["Action"])
    ]
    assert len(worker) == 1
    assert set(as_list(worker[0]["Action"])) == {"ecs:UpdateTaskProtection", "ecs:GetTaskProtection"}
    assert ":task/" in json.dumps(worker[0]["Resource"])
    for role in ("SchedulerTaskDefinitionTaskRole", "WebserverTaskDefinitionTaskRole"):
        assert "TaskProtection" not in json.dumps(policy_of_role(default_synth, role))


def test_worker_scales_from_zero_on_visible_plus_inflight_messages(default_synth: Synth) -> None:
    """Min 0 workers; alarms on metric math visible + in-flight; idle alarm waits 15 minutes, sets 0."""
    targets = default_synth.resources("AWS::ApplicationAutoScaling::ScalableTarget")
    worker = next(
        t["Properties"] for t in targets.values() if "Worker" in json.dumps(t["Properties"]["ResourceId"])
    )
    assert worker["MinCapacity"] == 0 and worker["MaxCapacity"] == 10
    alarms = list(default_synth.resources("AWS::CloudWatch::Alarm").values())
    assert len(alarms) == 2
    for alarm in alarms:
        metrics = alarm["Properties"]["Metrics"]
        assert any(m.get("Expression") == "visible + inflight" for m in metrics)
        names = {m["MetricStat"]["Metric"]["MetricName"] for m in metrics if "MetricStat" in m}
        assert names == {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"}
    idle = next(a["Properties"] for a in alarms if a["Properties"]["Threshold"] == 0)
    assert idle["EvaluationPeriods"] == 15 and idle["TreatMissingData"] == "breaching"
    policies = default_synth.resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
    steps = [
        p["Properties"]["StepScalingPolicyConfiguration"]
        for p in policies
        if "StepScalingPolicyConfiguration" in p["Properties"]
    ]
    assert all(s["AdjustmentType"] == "ExactCapacity" for s in steps)
    assert any(a["ScalingAdjustment"] == 0 for s in steps for a in s["StepAdjustments"])


def test_spot_is_a_setting_per_service(default_synth: Synth, locked_down_synth: Synth) -> None:
    """Default: plain Fargate everywhere. worker_spot=true: only the worker service prefers FARGATE_SPOT."""

    def providers(synth: Synth) -> dict[str, set[str]]:
        return {
            k: {s["CapacityProvider"] for s in v["Properties"]["CapacityProviderStrategy"]}
            for k, v in synth.resources("AWS::ECS::Service").items()
        }

    assert all(p == {"FARGATE"} for p in providers(default_synth).values())
    locked = providers(locked_down_synth)
    assert [k for k, p in locked.items() if "FARGATE_SPOT" in p] == [
        next(k for k in locked if k.startswith("Worker"))
    ]


def test_log_groups_are_named_like_mwaa_and_expire(default_synth: Synth, locked_down_synth: Synth) -> None:
    """{env}-Scheduler/-Worker/-Task/-WebServer/-DAGProcessing, with the configured retention."""
    default_synth.template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": "windsock-Worker", "RetentionInDays": 30}
    )
    for synth, env, days in (
        (default_synth, "windsock", 30),
        (locked_down_synth, "prod", 90),
    ):  # all types on
        groups = {
            g["Properties"].get("LogGroupName"): g["Properties"]
            for g in synth.resources("AWS::Logs::LogGroup").values()
        }
        for suffix in ("Scheduler", "Worker", "Task", "WebServer", "DAGProcessing"):
            assert groups[f"{env}-{suffix}"]["RetentionInDays"] == days
        assert all("RetentionInDays" in g for g in groups.values())


def test_vpc_has_flow_logs_and_mode_specific_egress(
    default_synth: Synth, locked_down_synth: Synth, dev_synth: Synth
) -> None:
    """NAT mode: one NAT gateway. Endpoint mode: no NAT, interface endpoints. Public mode: no NAT, public IPs."""
    for synth in (default_synth, locked_down_synth, dev_synth):
        assert len(synth.resources("AWS::EC2::FlowLog")) == 1
        assert len(synth.resources("AWS::EC2::Subnet")) >= 4  # two AZs
    assert len(default_synth.resources("AWS::EC2::NatGateway")) == 1
    assert not locked_down_synth.resources("AWS::EC2::NatGateway")
    endpoints = locked_down_synth.resources("AWS::EC2::VPCEndpoint").values()
    assert sum(e["Properties"].get("VpcEndpointType") == "Interface" for e in endpoints) == 8
    assert not dev_synth.resources("AWS::EC2::NatGateway")
    for service in dev_synth.resources("AWS::ECS::Service").values():
        assert (
            service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"]
            == "ENABLED"
        )


def test_tasks_accept_no_inbound_traffic_except_web_from_the_alb(dev_synth: Synth) -> None:
    """Even with public IPs, the only rule into a service security group is ALB -> web on 8080."""
    service_ingress = [
        r["Properties"]
        for r in dev_synth.resources("AWS::EC2::SecurityGroupIngress").values()
        if "Database" not in json.dumps(r["Properties"]["GroupId"])
    ]
    assert len(service_ingress) == 1
    assert service_ingress[0]["FromPort"] == 8080 and "WebAccess" in json.dumps(
        service_ingress[0]["SourceSecurityGroupId"]
    )
    for group in dev_synth.resources("AWS::EC2::SecurityGroup").values():
        assert (
            not group["Properties"].get("SecurityGroupIngress")
            or "WebAccess" in json.dumps(group)
            or all("CidrIp" in rule for rule in group["Properties"]["SecurityGroupIngress"])
        )


def test_public_alb_by_default_with_access_logs_and_health_check(default_synth: Synth) -> None:
    """Internet-facing ALB on HTTP without a certificate, access logs to S3, /health checks."""
    alb = next(iter(default_synth.resources("AWS::ElasticLoadBalancingV2::LoadBalancer").values()))[
        "Properties"
    ]
    assert alb["Scheme"] == "internet-facing"
    attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    group = next(iter(default_synth.resources("AWS::ElasticLoadBalancingV2::TargetGroup").values()))[
        "Properties"
    ]
    assert group["HealthCheckPath"] == "/health" and group["Port"] == 8080


def test_private_only_mode_has_no_internet_facing_alb_and_https(locked_down_synth: Synth) -> None:
    """PRIVATE_ONLY: internal ALB; a certificate gives HTTPS on 443 and an HTTP->HTTPS redirect."""
    albs = locked_down_synth.resources("AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert [a["Properties"]["Scheme"] for a in albs] == ["internal"]
    listeners = {
        listener["Properties"]["Port"]: listener["Properties"]
        for listener in locked_down_synth.resources("AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert listeners[443]["Protocol"] == "HTTPS" and listeners[443]["Certificates"]
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    ingress = [
        rule["CidrIp"]
        for name, g in locked_down_synth.resources("AWS::EC2::SecurityGroup").items()
        if name.startswith("WebAccess")
        for rule in g["Properties"].get("SecurityGroupIngress", [])
        if "CidrIp" in rule and rule.get("FromPort") in (80, 443)
    ]
    assert set(ingress) == {"10.0.0.0/8", "192.168.0.0/16"}


def test_cluster_insights_is_a_setting(default_synth: Synth, locked_down_synth: Synth) -> None:
    """Container Insights off by default (idle cost), on when asked."""

    def insights(synth: Synth) -> str:
        cluster = next(iter(synth.resources("AWS::ECS::Cluster").values()))["Properties"]
        return next(s["Value"] for s in cluster["ClusterSettings"] if s["Name"] == "containerInsights")

    assert insights(default_synth) == "disabled"
    assert insights(locked_down_synth) == "enabled"


def test_outputs_give_the_client_everything_it_needs(default_synth: Synth) -> None:
    """Web URL, bucket, queue URLs, DB endpoint and environment name are stack outputs."""
    outputs = set(default_synth.json["Outputs"])
    assert {
        "WebUrl",
        "BucketName",
        "TaskQueueUrl",
        "DeadLetterQueueUrl",
        "DatabaseEndpoint",
        "EnvironmentName",
    } <= outputs


def test_two_environments_do_not_collide(default_synth: Synth, locked_down_synth: Synth) -> None:
    """Every physical name is prefixed by env_name, and the stack names differ."""
    assert default_synth.stack.stack_name != locked_down_synth.stack.stack_name
    names = json.dumps(
        [q["Properties"]["QueueName"] for q in locked_down_synth.resources("AWS::SQS::Queue").values()]
    )
    assert "windsock-" not in names and "prod-" in names


def test_object_versions_are_passed_when_set(locked_down_synth: Synth) -> None:
    """requirements_object_version pins WINDSOCK_REQUIREMENTS_S3_OBJECT_VERSION; unset ones are absent."""
    env = env_of(containers(locked_down_synth)["worker"])
    assert env["WINDSOCK_REQUIREMENTS_S3_OBJECT_VERSION"] == "3sL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    assert "WINDSOCK_PLUGINS_S3_OBJECT_VERSION" not in env


def test_plain_http_web_access_warns_at_synth(default_synth: Synth, locked_down_synth: Synth) -> None:
    """Without certificate_arn the synth output carries a warning that the UI is plain HTTP."""
    from aws_cdk.assertions import Annotations

    Annotations.from_stack(default_synth.stack).has_warning("*", Match.string_like_regexp("plain HTTP"))
    Annotations.from_stack(locked_down_synth.stack).has_no_warning(
        "*", Match.string_like_regexp("plain HTTP")
    )


def test_log_bucket_takes_s3_and_alb_logs_by_policy_without_acls(default_synth: Synth) -> None:
    """ACLs disabled on both buckets; the log bucket's policy admits S3 server logging and ELB delivery."""
    for bucket in default_synth.resources("AWS::S3::Bucket").values():
        assert "AccessControl" not in bucket["Properties"]
        assert bucket["Properties"]["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": "BucketOwnerEnforced"}
        ]
    policy = next(
        p for k, p in default_synth.resources("AWS::S3::BucketPolicy").items() if k.startswith("AccessLogs")
    )
    principals = json.dumps([s["Principal"] for s in policy["Properties"]["PolicyDocument"]["Statement"]])
    assert "logging.s3.amazonaws.com" in principals
    assert "logdelivery.elasticloadbalancing.amazonaws.com" in principals


def test_every_log_group_has_a_retention_including_rds_exports(any_synth: Synth) -> None:
    """RDS's exported PostgreSQL logs go to groups the stack made first, with the same retention."""
    groups = {
        g["Properties"].get("LogGroupName"): g for g in any_synth.resources("AWS::Logs::LogGroup").values()
    }
    env = any_synth.stack.settings.env_name
    for kind in ("postgresql", "upgrade"):
        assert f"/aws/rds/instance/{env}-metadata/{kind}" in groups
    assert all("RetentionInDays" in g["Properties"] for g in groups.values())
