"""``windsock standalone --aws-local``: the cloud topology of ``cdk deploy`` on one machine, no AWS account.

moto's server on loopback plays S3, SQS, CloudWatch Logs and Secrets Manager. The environment
gets what the CDK stack makes: a bucket whose ``dags/`` uploads notify a sync queue, a task
queue with a dead-letter queue, a ``local-Task`` log group. dag_sync keeps the DAG folder in
step with the bucket; the scheduler sends tries through SQS; ``--workers N`` ``windsock worker``
processes run them. Everything lives under ``$WINDSOCK_HOME/aws-local`` and dies with this process.

IAM sign-in works as deployed: moto's STS verifies the proofs, and a CloudFormation stack
``Windsock-local`` holds the sign-in roles (``local-Admin`` ... ``local-Viewer``), their managed
policies and the outputs ``runtime.client.Client("local")`` reads. moto runs without IAM
enforcement here, so any caller may assume ``local-Admin``: this is one person's playground.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime import procs
from runtime.errors import UserError

ENV_NAME = "local"
BUCKET = "windsock-local"
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "windsock-local", "AWS_SECRET_ACCESS_KEY": "windsock-local"}
MOTO_ACCOUNT = "123456789012"  # moto's default account: the identities it vouches for live there
SIGN_IN_ROLES = ("Admin", "Op", "User", "Viewer")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalCloud:
    """moto's server and the resources of one environment; ``env`` is what every component runs with."""

    home: Path
    port: int = 0
    region: str = "us-east-1"
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        """moto's URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> dict[str, str]:
        """Start moto, create the environment's resources; the components' environment."""
        try:
            import moto.server  # noqa: F401
        except ImportError:
            raise UserError("--aws-local needs moto's server: pip install 'windsock[aws-local]'") from None
        self.port = self.port or free_port()
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / "moto.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = procs.start_child([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                      stdout=log, stderr=log)
        self._wait_listening(30.0)
        base = {**os.environ, **FAKE_KEYS, "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": self.region,
                "WINDSOCK_HOME": str(self.home), "WINDSOCK_ENV_NAME": ENV_NAME}
        self.env = {**base, **self._resources(base), **self._sign_in_settings(), "WINDSOCK__CORE__EXECUTOR": "SqsExecutor",
                    "WINDSOCK__CORE__DAGS_FOLDER": str(self.home / "dags"),
                    "WINDSOCK__WORKER__STOP_GRACE": os.environ.get("WINDSOCK__WORKER__STOP_GRACE", "5")}
        return self.env

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc is not None and self.proc.poll() is not None:
                    raise UserError(f"moto's server exited at start (see {self.home / 'moto.log'})") from None
                time.sleep(0.1)
        raise UserError(f"moto's server did not listen on port {self.port} within {timeout:g}s")

    def _resources(self, env: dict[str, str]) -> dict[str, str]:
        """Bucket (+ event notifications), task queue + DLQ, sync queue, log group: as the CDK stack makes them."""
        from runtime import aws

        sqs, s3, logs = (aws.client(s, environ=env) for s in ("sqs", "s3", "logs"))
        dlq = sqs.create_queue(QueueName=f"{ENV_NAME}-tasks-dlq")["QueueUrl"]
        dlq_arn = _arn(sqs, dlq)
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
        tasks = sqs.create_queue(QueueName=f"{ENV_NAME}-tasks",
                                 Attributes={"VisibilityTimeout": "120", "RedrivePolicy": redrive})["QueueUrl"]
        sync = sqs.create_queue(QueueName=f"{ENV_NAME}-sync")["QueueUrl"]
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
        s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": _arn(sqs, sync), "Events": events,
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}}
            for prefix in ("dags/", "plugins", "requirements", "startup")]})
        for group in (f"{ENV_NAME}-Task", f"{ENV_NAME}-DAGProcessing"):
            try:
                logs.create_log_group(logGroupName=group)
            except Exception as exc:  # noqa: BLE001 - it exists from an earlier start
                if aws.error_code(exc) != "ResourceAlreadyExistsException":
                    raise
        return {"WINDSOCK_S3_BUCKET": BUCKET, "WINDSOCK_SYNC_QUEUE_URL": sync, "WINDSOCK_TASK_QUEUE_URL": tasks,
                "WINDSOCK_DEAD_LETTER_QUEUE_URL": dlq, "WINDSOCK_TASK_LOG_GROUP": f"{ENV_NAME}-Task",
                "WINDSOCK_SYNC_RECONCILE_SECONDS": "30"}

    def _sign_in_settings(self) -> dict[str, str]:
        """IAM sign-in verified by moto's STS; the environment's roles map to their Airflow roles."""
        mapping = {f"{ENV_NAME}-{role}": role for role in SIGN_IN_ROLES}
        return {"WINDSOCK__WEBSERVER__IAM_STS_ENDPOINT": self.endpoint, "WINDSOCK__WEBSERVER__IAM_ACCOUNT_ID": MOTO_ACCOUNT,
                "WINDSOCK__WEBSERVER__IAM_ROLE_MAPPING": json.dumps(mapping)}

    def register_stack(self, web_url: str, workers: int) -> None:
        """Stack ``Windsock-local`` in moto's CloudFormation: the sign-in roles and policies, and the outputs
        ``runtime.client.Client("local")`` reads (as ``cdk deploy`` writes them)."""
        from runtime import aws

        cfn = aws.client("cloudformation", environ=self.env)  # a new moto each start: the stack is new too
        template = stack_template(ENV_NAME, self.env, web_url, workers)
        cfn.create_stack(StackName=f"Windsock-{ENV_NAME}", TemplateBody=json.dumps(template))

    def start_workers(self, count: int, concurrency: int) -> None:
        """``count`` ``windsock worker`` processes (children: they die with this process)."""
        for i in range(count):
            log = open(self.home / f"worker-{i}.log", "ab")  # noqa: SIM115 - the child keeps it
            self.workers.append(procs.start_child(
                procs.python_module("runtime.cli.main", "worker", "-c", str(concurrency)), env=self.env,
                stdout=log, stderr=log))

    def stop(self) -> None:
        """Stop the workers (they interrupt what runs and record it), then moto."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in self.workers:
            procs.stop_child(worker, timeout=30)
        if self.proc is not None:
            procs.stop_child(self.proc)

    def banner(self, workers: int) -> list[str]:
        """How to reach this environment, printed at start."""
        aws_cli = f"AWS_ACCESS_KEY_ID={FAKE_KEYS['AWS_ACCESS_KEY_ID']} AWS_SECRET_ACCESS_KEY=x aws --endpoint-url {self.endpoint}"
        return [
            f"  aws-local:  moto on {self.endpoint} (S3, SQS, CloudWatch Logs, Secrets Manager), {workers} worker(s)",
            f"  bucket:     s3://{BUCKET}   task queue: {self.env['WINDSOCK_TASK_QUEUE_URL']}",
            f"  upload:     {aws_cli} s3 cp my_dag.py s3://{BUCKET}/dags/",
            f"  task logs:  {aws_cli} logs tail {ENV_NAME}-Task",
            f"  CLI:        WINDSOCK_HOME={self.home} AWS_ENDPOINT_URL={self.endpoint} windsock dags list",
            f"  IAM client: AWS_ENDPOINT_URL={self.endpoint} AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x "
            f"windsock --env {ENV_NAME} dags list   (or windsock login --env {ENV_NAME})",
        ]


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def start_sync(env: dict[str, str], say: Callable[[str], None]) -> tuple[Callable[[], None], dict[str, str]]:
    """dag_sync as a container runs it: a first full sync, then events + reconcile on a thread;
    (stop, the components' environment with plugins and requirements on PYTHONPATH)."""
    from dag_sync.entry import prepare_container, start_background_sync

    component_env = prepare_container(env)
    say(f"dag_sync: s3://{BUCKET}/dags -> {env['WINDSOCK__CORE__DAGS_FOLDER']}")
    return start_background_sync(env), component_env


def stack_template(env_name: str, env: dict[str, str], web_url: str, workers: int,
                   trusted: list[str] | None = None) -> dict[str, Any]:
    """The CloudFormation template of ``Windsock-<env_name>`` on moto: a role and a managed policy per Airflow
    role (as cdk/signin/ makes them), and the outputs the client reads. ``trusted``: the principals the roles
    trust (default the account; moto's trust check only understands listed principals)."""
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    principal = trusted or f"arn:aws:iam::{MOTO_ACCOUNT}:root"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"AWS": principal}}]}
    for role in SIGN_IN_ROLES:
        name = f"{env_name}-{role}"
        resources[f"Role{role}"] = {"Type": "AWS::IAM::Role",
                                    "Properties": {"RoleName": name, "AssumeRolePolicyDocument": trust}}
        statement = [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": {"Fn::GetAtt": [f"Role{role}", "Arn"]}},
                     {"Effect": "Allow", "Action": "cloudformation:DescribeStacks",
                      "Resource": f"arn:aws:cloudformation:*:{MOTO_ACCOUNT}:stack/Windsock-{env_name}/*"}]
        resources[f"Policy{role}"] = {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "ManagedPolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statement}}}
        outputs[f"SignInRole{role}"] = {"Value": {"Fn::GetAtt": [f"Role{role}", "Arn"]}}
        outputs[f"SignInPolicy{role}"] = {"Value": {"Ref": f"Policy{role}"}}
    values = {"EnvironmentName": env_name, "WebUrl": web_url, "BucketName": env.get("WINDSOCK_S3_BUCKET", BUCKET),
              "TaskQueueUrl": env["WINDSOCK_TASK_QUEUE_URL"], "DeadLetterQueueUrl": env["WINDSOCK_DEAD_LETTER_QUEUE_URL"],
              "DatabaseEndpoint": "sqlite (local)", "ClusterName": env_name, "SignInServerId": env_name,
              "SignInStsEndpoint": env["WINDSOCK__WEBSERVER__IAM_STS_ENDPOINT"],
              "EnvironmentConfig": json.dumps({"MinWorkers": workers, "MaxWorkers": workers, "Schedulers": 1,
                                               "WebserverAccessMode": "PRIVATE_ONLY"})}
    outputs.update({key: {"Value": value} for key, value in values.items()})
    return {"AWSTemplateFormatVersion": "2010-09-09", "Description": f"Windsock {env_name} on moto (--aws-local)",
            "Resources": resources, "Outputs": outputs}
