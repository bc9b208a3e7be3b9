"""Environment classes named as MWAA names them (``mw1.micro`` .. ``mw1.xlarge``), as setting presets.

A class fills in the task sizes, worker concurrency, DB instance class and scheduler count; any
of them given explicitly in context wins. Sizes come from measured footprints, not from MWAA's:
an idle scheduler + DAG processor + fork server is ~150 MB PSS and ~9 % of one core, so the
small class gives the scheduler 0.25 vCPU / 1 GiB (room for two DAG-parsing children) and the web
server 0.25 vCPU / 0.5 GiB. Worker sizes and concurrencies follow MWAA (one task try per
~400 MiB), since they hold user task code. ``mw1.micro`` runs the web server in the scheduler's
task (two containers, one task), as MWAA's micro class does.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class EnvironmentClass(StrEnum):
    """MWAA's environment class names."""

    MICRO = "mw1.micro"
    SMALL = "mw1.small"
    MEDIUM = "mw1.medium"
    LARGE = "mw1.large"
    XLARGE = "mw1.xlarge"


# class -> Settings field -> value. Every class sets the same fields.
PRESETS: dict[EnvironmentClass, dict[str, Any]] = {
    EnvironmentClass.MICRO: {
        "scheduler_cpu": 256,
        "scheduler_memory": 1024,  # scheduler and web server containers share this task
        "webserver_cpu": 256,
        "webserver_memory": 1024,
        "web_in_scheduler_task": True,
        "worker_cpu": 512,
        "worker_memory": 1024,
        "worker_concurrency": 3,
        "db_instance_class": "t4g.micro",
        "schedulers": 1,
    },
    EnvironmentClass.SMALL: {
        "scheduler_cpu": 256,
        "scheduler_memory": 1024,
        "webserver_cpu": 256,
        "webserver_memory": 512,
        "web_in_scheduler_task": False,
        "worker_cpu": 1024,
        "worker_memory": 2048,
        "worker_concurrency": 5,
        "db_instance_class": "t4g.micro",
        "schedulers": 1,
    },
    EnvironmentClass.MEDIUM: {
        "scheduler_cpu": 512,
        "scheduler_memory": 2048,
        "webserver_cpu": 512,
        "webserver_memory": 1024,
        "web_in_scheduler_task": False,
        "worker_cpu": 2048,
        "worker_memory": 4096,
        "worker_concurrency": 10,
        "db_instance_class": "t4g.small",
        "schedulers": 2,
    },
    EnvironmentClass.LARGE: {
        "scheduler_cpu": 1024,
        "scheduler_memory": 4096,
        "webserver_cpu": 1024,
        "webserver_memory": 2048,
        "web_in_scheduler_task": False,
        "worker_cpu": 4096,
        "worker_memory": 8192,
        "worker_concurrency": 20,
        "db_instance_class": "t4g.medium",
        "schedulers": 2,
    },
    EnvironmentClass.XLARGE: {
        "scheduler_cpu": 2048,
        "scheduler_memory": 8192,
        "webserver_cpu": 2048,
        "webserver_memory": 4096,
        "web_in_scheduler_task": False,
        "worker_cpu": 8192,
        "worker_memory": 24576,
        "worker_concurrency": 40,
        "db_instance_class": "t4g.large",
        "schedulers": 2,
    },
}

# Fargate task sizes: CPU units -> allowed memory (MiB).
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}


def preset(environment_class: EnvironmentClass) -> dict[str, Any]:
    """The field values a class sets (a copy)."""
    return dict(PRESETS[environment_class])


def fargate_size_error(cpu: int, memory_mib: int) -> str | None:
    """Why (cpu, memory) is not a Fargate task size, or None if it is one."""
    if cpu not in FARGATE_MEMORY:
        return f"CPU {cpu} is not a Fargate size ({', '.join(map(str, FARGATE_MEMORY))})"
    allowed = FARGATE_MEMORY[cpu]
    if memory_mib not in allowed:
        return (
            f"{memory_mib} MiB does not fit CPU {cpu} (allowed {allowed[0]}-{allowed[-1]} MiB in its steps)"
        )
    return None
