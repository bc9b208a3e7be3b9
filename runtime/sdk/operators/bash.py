"""BashOperator: run a templated bash command; its last output line is the XCom."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Container
from typing import Any

from runtime.procs import parent_death_preexec
from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.exceptions import AirflowException, AirflowSkipException


def context_env(context: Any) -> dict[str, str]:
    """Airflow's ``AIRFLOW_CTX_*`` variables describing the running task."""
    ti = context.get("ti")
    if ti is None:
        return {}
    env = {
        "AIRFLOW_CTX_DAG_ID": ti.dag_id,
        "AIRFLOW_CTX_TASK_ID": ti.task_id,
        "AIRFLOW_CTX_EXECUTION_DATE": ti.logical_date.isoformat(),
        "AIRFLOW_CTX_LOGICAL_DATE": ti.logical_date.isoformat(),
        "AIRFLOW_CTX_TRY_NUMBER": str(ti.try_number),
        "AIRFLOW_CTX_DAG_RUN_ID": ti.run_id,
    }
    owner = getattr(ti.task, "owner", None)
    if owner:
        env["AIRFLOW_CTX_DAG_OWNER"] = str(owner)
    return env


def run_bash(
    task: BaseOperator,
    command: str,
    context: Any,
    *,
    env: dict[str, str] | None,
    append_env: bool,
    cwd: str | None,
    skip_on_exit_code: Any,
    output_encoding: str = "utf-8",
) -> str | None:
    """Run ``command`` with bash, stream its output, map exit codes as Airflow does."""
    full_env = dict(os.environ) if env is None or append_env else {}
    full_env.update(env or {})
    full_env.update(context_env(context))
    if cwd is not None and not os.path.isdir(cwd):
        raise AirflowException(f"task {task.task_id!r}: cwd {cwd!r} does not exist or is not a directory")
    skip_codes: Container[int] = [skip_on_exit_code] if isinstance(skip_on_exit_code, int) else (skip_on_exit_code or [])
    with tempfile.TemporaryDirectory(prefix="windsocktmp") as tmp:
        proc = subprocess.Popen(
            ["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd or tmp,
            env=full_env, start_new_session=True, preexec_fn=parent_death_preexec(signal.SIGKILL),
        )
        task._windsock_proc = proc  # type: ignore[attr-defined]
        last = ""
        try:
            assert proc.stdout is not None
            for raw in iter(proc.stdout.readline, b""):
                last = raw.decode(output_encoding, errors="backslashreplace").rstrip("\n")
                print(last, flush=True)
            code = proc.wait()
        finally:
            _kill_group(proc)
    if code in skip_codes:
        raise AirflowSkipException(f"Bash command returned exit code {code}. Skipping.")
    if code != 0:
        raise AirflowException(f"Bash command failed. The command returned a non-zero exit code {code}.")
    return last


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


class BashOperator(BaseOperator):
    """Runs a bash command (templated; a ``.sh``/``.bash`` value is read as a template file)."""

    stops_on_kill = True  # on SIGTERM its on_kill ends the command, and it reports what the command did
    template_fields = ("bash_command", "env", "cwd")
    template_fields_renderers = {"bash_command": "bash", "env": "json"}
    template_ext = (".sh", ".bash")
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_exit_code: int | None = None,
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        output_processor: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        self.skip_on_exit_code = skip_exit_code if skip_exit_code is not None else skip_on_exit_code
        self.cwd = cwd
        self.output_processor = output_processor

    def execute(self, context: Any) -> Any:
        result = run_bash(
            self, self.bash_command, context, env=self.env, append_env=self.append_env, cwd=self.cwd,
            skip_on_exit_code=self.skip_on_exit_code, output_encoding=self.output_encoding,
        )
        return self.output_processor(result) if self.output_processor else result

    def on_kill(self) -> None:
        proc = getattr(self, "_windsock_proc", None)
        if proc is not None:
            _kill_group(proc)

    @staticmethod
    def run_command_for(task: Any, command: str, context: Any) -> Any:
        """Run a command on behalf of another task (``@task.bash``)."""
        return run_bash(
            task, command, context, env=task.env, append_env=task.append_env, cwd=task.cwd,
            skip_on_exit_code=task.skip_on_exit_code, output_encoding=task.output_encoding,
        )
