"""BashSensor: poke by running a bash command; exit code 0 means done."""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any

from runtime.sdk.exceptions import AirflowFailException
from runtime.sdk.operators.bash import context_env
from runtime.sdk.sensors.base import BaseSensorOperator


class BashSensor(BaseSensorOperator):
    """Done when ``bash_command`` exits 0; ``retry_exit_code`` (if set) pokes again, any other code fails."""

    template_fields = ("bash_command", "env")
    template_ext = (".sh", ".bash")

    def __init__(self, *, bash_command: str, env: dict[str, str] | None = None, output_encoding: str = "utf-8",
                 retry_exit_code: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code

    def poke(self, context: Any) -> bool:
        env = {**(self.env if self.env is not None else os.environ), **context_env(context)}
        with tempfile.TemporaryDirectory(prefix="windsocktmp") as tmp:
            print(f"Running command: {self.bash_command}")
            proc = subprocess.run(["bash", "-c", self.bash_command], cwd=tmp, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, start_new_session=True, check=False)
        print(proc.stdout.decode(self.output_encoding, errors="replace").rstrip())
        print(f"Command exited with return code {proc.returncode}")
        if proc.returncode == 0:
            return True
        if self.retry_exit_code is None or proc.returncode == self.retry_exit_code:
            return False
        raise AirflowFailException(f"Command exited with return code {proc.returncode}")


__all__ = ["BashSensor"]
