"""Deployment settings from CDK context, environment classes, and the worker step-scaling table (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")

from cdk.classes import PRESETS, EnvironmentClass, fargate_size_error  # noqa: E402
from cdk.service.scaling import MAX_STEPS, capacity_steps  # noqa: E402
from cdk.settings import (  # noqa: E402
    LogLevel,
    NetworkMode,
    SettingsError,
    WebAccessMode,
    settings_from_mapping,
)


def test_defaults_are_the_cheap_small_environment() -> None:
    """No context: mw1.small, NAT mode, public web open to no one, 0..10 workers, one scheduler, protected DB."""
    s = settings_from_mapping({})
    assert (s.env_name, s.network_mode, s.web_access_mode, s.environment_class) == (
        "windsock",
        NetworkMode.NAT_GATEWAY,
        WebAccessMode.PUBLIC_ONLY,
        EnvironmentClass.SMALL,
    )
    assert s.allowed_cidrs == ()
    assert (s.min_workers, s.max_workers, s.schedulers, s.worker_spot) == (0, 10, 1, False)
    assert s.db_deletion_protection and not s.db_multi_az
    assert (s.size("scheduler").cpu, s.size("scheduler").memory_mib) == (256, 1024)
    assert (s.size("webserver").cpu, s.size("webserver").memory_mib) == (256, 512)
    assert not s.uses_kms_key and not s.task_role_arn


def test_context_strings_are_parsed() -> None:
    """`-c` values arrive as strings: ints, booleans, enums (any case) and CIDR lists are converted."""
    s = settings_from_mapping(
        {
            "max_workers": "25",
            "worker_spot": "yes",
            "network_mode": "vpc_endpoints",
            "allowed_cidrs": "10.0.0.0/8, 1.2.3.4/32",
            "environment_class": "MW1.Medium",
            "scheduler_log_level": "debug",
            "task_logs": "off",
        }
    )
    assert s.max_workers == 25 and s.worker_spot is True
    assert s.network_mode is NetworkMode.VPC_ENDPOINTS
    assert s.allowed_cidrs == ("10.0.0.0/8", "1.2.3.4/32")
    assert s.environment_class is EnvironmentClass.MEDIUM
    assert s.logs("scheduler").level is LogLevel.DEBUG and s.logs("scheduler").enabled
    assert not s.logs("task").enabled


@pytest.mark.parametrize("environment_class", list(EnvironmentClass))
def test_a_class_sets_sizes_concurrency_db_and_schedulers(environment_class: EnvironmentClass) -> None:
    """Each MWAA class name fills in every sized setting, and each of its sizes is a Fargate size."""
    s = settings_from_mapping({"environment_class": environment_class.value})
    for field, value in PRESETS[environment_class].items():
        assert getattr(s, field) == value, field
    for role in ("scheduler", "worker", "webserver"):
        assert fargate_size_error(s.size(role).cpu, s.size(role).memory_mib) is None


def test_classes_grow_monotonically() -> None:
    """A larger class never gets less CPU, memory, concurrency than a smaller one."""
    order = list(EnvironmentClass)
    for smaller, larger in zip(order, order[1:], strict=False):
        for field in (
            "scheduler_cpu",
            "scheduler_memory",
            "worker_cpu",
            "worker_memory",
            "worker_concurrency",
        ):
            assert PRESETS[larger][field] >= PRESETS[smaller][field], (larger, field)


def test_explicit_keys_win_over_the_class() -> None:
    """`-c environment_class=mw1.large -c worker_memory=16384`: the class fills the rest, the key wins."""
    s = settings_from_mapping({"environment_class": "mw1.large", "worker_memory": "16384", "schedulers": "5"})
    assert (s.worker_cpu, s.worker_memory, s.schedulers) == (4096, 16384, 5)
    assert s.db_instance_class == "t4g.medium"


def test_micro_runs_the_web_server_in_the_scheduler_task() -> None:
    """mw1.micro: one task for scheduler and web server, three tries per worker, one scheduler."""
    s = settings_from_mapping({"environment_class": "mw1.micro"})
    assert s.web_in_scheduler_task and s.worker_concurrency == 3 and s.schedulers == 1


def test_task_policy_is_read_from_a_file_and_normalized(tmp_path: Path) -> None:
    """task_policy=<path>: the JSON document is validated and kept as normalized JSON."""
    path = tmp_path / "policy.json"
    path.write_text(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", '
        '"Resource": "arn:aws:s3:::b/*"}]}'
    )
    s = settings_from_mapping({"task_policy": str(path)})
    assert json.loads(s.task_policy)["Statement"][0]["Action"] == "s3:GetObject"


def test_task_policy_accepts_an_object_from_cdk_json() -> None:
    """In cdk.json the policy may be written inline as an object."""
    doc = {"Statement": {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "*"}}
    assert json.loads(settings_from_mapping({"task_policy": doc}).task_policy) == doc


def test_task_policy_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    """A JSON mistake is reported with the file, line and column."""
    path = tmp_path / "policy.json"
    path.write_text('{\n  "Statement": [\n    {"Effect": "Allow" "Action": "s3:*"}\n  ]\n}\n')
    with pytest.raises(SettingsError, match=rf"task_policy: {path} line 3 column"):
        settings_from_mapping({"task_policy": str(path)})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"Version": "2012-10-17"}, "no Statement list"),
        ({"Statement": [{"Action": "s3:GetObject", "Resource": "*"}]}, r"Statement\[0\] needs Effect"),
        ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, r"Statement\[0\] needs Action"),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Principal": "*"}]}, "Principal"),
    ],
)
def test_task_policy_shape_errors_name_the_statement(document: dict[str, object], message: str) -> None:
    """A document IAM would reject fails at synth with the statement it is about."""
    with pytest.raises(SettingsError, match=message):
        settings_from_mapping({"task_policy": json.dumps(document)})


def test_missing_task_policy_file_is_named(tmp_path: Path) -> None:
    """A path that does not exist is named in the error."""
    with pytest.raises(SettingsError, match="cannot read .*nope.json"):
        settings_from_mapping({"task_policy": str(tmp_path / "nope.json")})


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"env_name": "Prod"}, "env_name"),
        ({"env_name": "a-very-long-environment-name"}, "env_name"),
        ({"max_workers": "ten"}, "max_workers"),
        ({"min_workers": "5", "max_workers": "2"}, "min_workers"),
        ({"schedulers": "6"}, "schedulers"),
        ({"schedulers": "0"}, "schedulers"),
        ({"network_mode": "MAGIC"}, "NAT_GATEWAY | NAT_INSTANCE | VPC_ENDPOINTS | PUBLIC_SUBNETS"),
        ({"environment_class": "mw1.huge"}, "mw1.micro | mw1.small"),
        ({"allowed_cidrs": "everyone"}, "allowed_cidrs"),
        ({"log_retention_days": "31"}, "log_retention_days"),
        ({"worker_spot": "maybe"}, "worker_spot"),
        ({"scheduler_log_level": "LOUD"}, "scheduler_log_level"),
        ({"worker_cpu": "300"}, "worker_cpu/worker_memory: CPU 300"),
        ({"scheduler_cpu": "256", "scheduler_memory": "4096"}, "scheduler_cpu/scheduler_memory: 4096 MiB"),
        ({"task_role_arn": "dag-runner"}, "task_role_arn"),
        ({"task_policy_arns": "AmazonS3ReadOnlyAccess"}, "task_policy_arns"),
        ({"kms_key_arn": "alias/mine"}, "kms_key_arn"),
        (
            {"kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/abc", "create_kms_key": "true"},
            "choose one",
        ),
        (
            {
                "task_role_arn": "arn:aws:iam::123456789012:role/runner",
                "task_policy_arns": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            },
            "task_role_arn",
        ),
        ({"environment_class": "mw1.micro", "webserver_spot": "true"}, "scheduler_spot instead"),
    ],
)
def test_bad_context_names_the_key(context: dict[str, str], message: str) -> None:
    """A value the stack cannot use fails synthesis with a message naming the key."""
    with pytest.raises(SettingsError, match=message):
        settings_from_mapping(context)


def test_capacity_steps_give_one_worker_per_concurrency_slots() -> None:
    """With 5 tries per worker: 1-5 queued+running -> 1 worker, 6-10 -> 2, ... up to max_workers."""
    steps = capacity_steps(max_workers=10, concurrency=5)
    assert steps[:3] == [(1, 1), (6, 2), (11, 3)]
    assert steps[-1] == (46, 10)


def test_capacity_steps_stay_within_the_api_limit_and_never_underprovision() -> None:
    """Large max_workers: at most 20 steps, starting at backlog 1, each count covering its whole range."""
    steps = capacity_steps(max_workers=200, concurrency=4)
    assert len(steps) <= MAX_STEPS + 1 and steps[0][0] == 1 and steps[-1][1] == 200
    for (lower, workers), (next_lower, _) in zip(steps, steps[1:], strict=False):
        assert workers * 4 >= next_lower - 1 >= lower
