"""Whole DAGs run in-process (``dags test``): skips, retries, timeouts, templates, XCom, mapping."""

from __future__ import annotations

import datetime
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pendulum
import pytest

from runtime.inprocess import MemoryServices, run_dag, run_single_task
from runtime.sdk import DAG, Param, TaskGroup, task
from runtime.sdk.exceptions import AirflowFailException, AirflowSkipException, ParamValidationError
from runtime.sdk.operators.bash import BashOperator
from runtime.sdk.operators.python import BranchPythonOperator, PythonOperator, ShortCircuitOperator

START = pendulum.datetime(2024, 1, 1, tz="UTC")
DAY = pendulum.datetime(2024, 3, 5, tz="UTC")


def _states(record: Any) -> dict[str, str]:
    return {tid if mi < 0 else f"{tid}[{mi}]": s for (tid, mi), s in record.task_states.items()}


def _bash(tid: str, cmd: str = "true", **kw: Any) -> BashOperator:
    return BashOperator(task_id=tid, bash_command=cmd, **kw)


def test_branch_skips_the_other_path_and_join_runs() -> None:
    """The unchosen branch is skipped and the skip propagates; none_failed_min_one_success joins."""
    with DAG("b", start_date=START, schedule=None) as d:
        pick = BranchPythonOperator(task_id="pick", python_callable=lambda: "left")
        left, right, after_right = _bash("left"), _bash("right"), _bash("after_right")
        join = _bash("join", trigger_rule="none_failed_min_one_success")
        pick >> [left, right]
        right >> after_right
        [left, after_right] >> join
    states = _states(run_dag(d, DAY))
    assert states == {"pick": "success", "left": "success", "right": "skipped", "after_right": "skipped", "join": "success"}


def test_branch_to_a_task_group_follows_its_roots() -> None:
    with DAG("bg", start_date=START, schedule=None) as d:
        pick = BranchPythonOperator(task_id="pick", python_callable=lambda: "grp")
        with TaskGroup("grp") as grp:
            _bash("inner")
        other = _bash("other")
        pick >> [grp, other]
    states = _states(run_dag(d, DAY))
    assert states["grp.inner"] == "success" and states["other"] == "skipped"


@pytest.mark.parametrize(("ignore", "expected_final"), [(True, "skipped"), (False, "success")])
def test_short_circuit_respects_ignore_downstream_trigger_rules(ignore: bool, expected_final: str) -> None:
    """Falsy result skips everything downstream, or only direct downstreams and lets rules decide."""
    with DAG("sc", start_date=START, schedule=None) as d:
        gate = ShortCircuitOperator(task_id="gate", python_callable=lambda: False, ignore_downstream_trigger_rules=ignore)
        step = _bash("step")
        final = _bash("final", trigger_rule="all_done")
        gate >> step >> final
    states = _states(run_dag(d, DAY))
    assert states["step"] == "skipped"
    assert states["final"] == expected_final


def test_upstream_failed_propagates_and_rules_react() -> None:
    """A failure marks all_success downstreams upstream_failed; one_failed and all_done run."""
    with DAG("f", start_date=START, schedule=None) as d:
        bad = _bash("bad", "exit 3")
        after = _bash("after")
        later = _bash("later")
        alarm = _bash("alarm", trigger_rule="one_failed")
        cleanup = _bash("cleanup", trigger_rule="all_done")
        bad >> after >> later
        bad >> [alarm, cleanup]
    record = run_dag(d, DAY)
    states = _states(record)
    assert states == {"bad": "failed", "after": "upstream_failed", "later": "upstream_failed", "alarm": "success", "cleanup": "success"}
    assert record.state == "failed"


def test_retries_wait_their_delay_then_succeed(tmp_path: Path) -> None:
    """A task failing once retries after retry_delay and then succeeds on try 2."""
    marker = tmp_path / "tried"
    with DAG("r", start_date=START, schedule=None) as d:
        _bash("flaky", f'if [ -f {marker} ]; then date +%s.%N >> {marker}; exit 0; else date +%s.%N > {marker}; exit 1; fi',
              retries=2, retry_delay=timedelta(seconds=0.5))
    record = run_dag(d, DAY)
    assert _states(record) == {"flaky": "success"} and record.tries[("flaky", -1)] == 2
    first, second = (float(x) for x in marker.read_text().split())
    assert second - first >= 0.5


def test_fail_exception_does_not_retry() -> None:
    def boom() -> None:
        raise AirflowFailException("stop now")

    with DAG("nf", start_date=START, schedule=None) as d:
        PythonOperator(task_id="t", python_callable=boom, retries=3, retry_delay=0)
    record = run_dag(d, DAY)
    assert _states(record) == {"t": "failed"} and record.tries[("t", -1)] == 1


def test_skip_exception_and_exit_code_99_skip() -> None:
    def skip() -> None:
        raise AirflowSkipException("nothing to do")

    with DAG("sk", start_date=START, schedule=None) as d:
        PythonOperator(task_id="py", python_callable=skip) >> _bash("after")
        _bash("bash99", "exit 99")
    assert _states(run_dag(d, DAY)) == {"py": "skipped", "after": "skipped", "bash99": "skipped"}


def test_execution_timeout_stops_python_and_bash(tmp_path: Path) -> None:
    """A task past execution_timeout fails; a bash child is killed with it."""
    pidfile = tmp_path / "pid"
    with DAG("to", start_date=START, schedule=None) as d:
        PythonOperator(task_id="py", python_callable=lambda: time.sleep(30), execution_timeout=timedelta(seconds=0.5))
        _bash("sh", f"echo $$ > {pidfile}; sleep 30", execution_timeout=timedelta(seconds=0.5))
    started = time.monotonic()
    states = _states(run_dag(d, DAY))
    assert states == {"py": "failed", "sh": "failed"}
    assert time.monotonic() - started < 20
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_templated_bash_command_like_the_seed(capfd: pytest.CaptureFixture[str]) -> None:
    """ds, macros.ds_add and params render in the bash command (the seed's 'templated' task)."""
    cmd = """
    {% for i in range(2) %}
        echo "{{ ds }}"
        echo "{{ macros.ds_add(ds, 7) }}"
        echo "{{ params.my_param }}"
    {% endfor %}
    """
    with DAG("tpl", start_date=START, schedule="@daily") as d:
        _bash("templated", cmd, params={"my_param": "Parameter I passed in"})
    run_dag(d, DAY)
    lines = [line.strip() for line in capfd.readouterr().out.splitlines()]
    assert lines.count("2024-03-05") == 2 and lines.count("2024-03-12") == 2 and lines.count("Parameter I passed in") == 2


def test_template_context_values() -> None:
    """The template context has Airflow's keys with Airflow's values."""
    seen: dict[str, Any] = {}

    def grab(**context: Any) -> None:
        for key in ("ds", "ds_nodash", "ts", "ts_nodash", "run_id", "data_interval_start", "data_interval_end", "prev_ds", "next_ds"):
            seen[key] = context[key]
        seen["conf"] = context["dag_run"].conf
        seen["logical"] = context["logical_date"] == context["execution_date"]

    with DAG("ctx", start_date=START, schedule="@daily") as d:
        PythonOperator(task_id="grab", python_callable=grab)
    run_dag(d, DAY, conf={"k": 1})
    assert seen["ds"] == "2024-03-05" and seen["ds_nodash"] == "20240305"
    assert seen["ts"] == "2024-03-05T00:00:00+00:00" and seen["ts_nodash"] == "20240305T000000"
    assert seen["data_interval_start"].isoformat() == "2024-03-04T00:00:00+00:00"
    assert seen["data_interval_end"].isoformat() == "2024-03-05T00:00:00+00:00"
    # a manual run covers [03-04, 03-05): the next interval starts at its end
    assert (seen["prev_ds"], seen["next_ds"]) == ("2024-03-04", "2024-03-05")
    assert seen["conf"] == {"k": 1} and seen["logical"]


def test_undefined_template_name_fails_the_task() -> None:
    """As in Airflow (StrictUndefined), an undefined name fails rendering."""
    with DAG("und", start_date=START, schedule=None) as d:
        _bash("t", "echo {{ no_such_name }}")
    assert _states(run_dag(d, DAY)) == {"t": "failed"}


def test_user_macros_filters_and_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """user_defined_macros/filters and var.value / var.json render."""
    monkeypatch.setenv("AIRFLOW_VAR_BUCKET", "my-bucket")
    monkeypatch.setenv("AIRFLOW_VAR_CFG", '{"n": 4}')
    out = tmp_path / "out"
    with DAG("mac", start_date=START, schedule=None, user_defined_macros={"team": "data"}, user_defined_filters={"shout": str.upper}) as d:
        _bash("t", f"echo '{{{{ team | shout }}}} {{{{ var.value.bucket }}}} {{{{ var.json.cfg.n }}}}' > {out}")
    run_dag(d, DAY, services=MemoryServices())
    assert out.read_text().strip() == "DATA my-bucket 4"


def test_xcom_between_classic_and_taskflow_tasks() -> None:
    """Classic return values reach TaskFlow args and ti.xcom_pull; TaskFlow outputs reach templates."""
    got: dict[str, Any] = {}

    def produce(ti: Any) -> int:
        ti.xcom_push(key="extra", value={"a": [1, 2]})
        return 41

    def consume(ti: Any) -> None:
        got["pull"] = ti.xcom_pull(task_ids="produce")
        got["extra"] = ti.xcom_pull(task_ids="produce", key="extra")
        got["many"] = ti.xcom_pull(task_ids=["produce", "plus_one"])

    with DAG("x", start_date=START, schedule=None) as d:
        classic = PythonOperator(task_id="produce", python_callable=produce)

        @task
        def plus_one(v: int) -> int:
            return v + 1

        result = plus_one(classic.output)
        echo = BashOperator(task_id="echo", bash_command="test {{ ti.xcom_pull(task_ids='plus_one') }} = 42")
        sink = PythonOperator(task_id="consume", python_callable=consume)
        result >> [echo, sink]
    states = _states(run_dag(d, DAY))
    assert states == {"produce": "success", "plus_one": "success", "echo": "success", "consume": "success"}
    assert got == {"pull": 41, "extra": {"a": [1, 2]}, "many": [41, 42]}


def test_xcom_keeps_decimals_tuples_and_datetimes() -> None:
    """What a DB-API driver returns (tuples of Decimal) and datetimes reach the next task as they were pushed."""
    got: dict[str, Any] = {}
    when = pendulum.datetime(2024, 5, 6, 7, 8, tz="UTC")

    with DAG("types", start_date=START, schedule=None) as d:
        @task
        def query() -> dict[str, Any]:
            return {"rows": [(1, Decimal("3.10"))], "when": when}

        @task
        def use(v: dict[str, Any]) -> None:
            got.update(v)

        use(query())
    assert set(_states(run_dag(d, DAY)).values()) == {"success"}
    assert got == {"rows": [(1, Decimal("3.10"))], "when": when}
    assert isinstance(got["rows"][0], tuple) and isinstance(got["when"], datetime.datetime)


def test_multiple_outputs_push_each_key() -> None:
    seen: list[Any] = []
    with DAG("mo", start_date=START, schedule=None) as d:

        @task(multiple_outputs=True)
        def pair() -> dict[str, int]:
            return {"x": 1, "y": 2}

        @task
        def use(x: int, y: int) -> None:
            seen.append((x, y))

        out = pair()
        use(out["x"], out["y"])
    run_dag(d, DAY)
    assert seen == [(1, 2)]


def test_non_serializable_xcom_names_task_and_type() -> None:
    """A value no serializer can carry fails the try; the error names the task and the type."""
    with DAG("ns", start_date=START, schedule=None) as d:
        PythonOperator(task_id="bad", python_callable=lambda: Path)
    services = MemoryServices()
    result = run_single_task(d, "bad", DAY, services=services)
    assert result.state == "failed"
    assert "'bad'" in (result.error or "") and "type" in (result.error or "")


def test_dynamic_mapping_literal_xcom_and_partial() -> None:
    """expand over a literal, over an upstream result, with partial args, and for classic operators."""
    totals: list[int] = []
    with DAG("m", start_date=START, schedule=None) as d:

        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def scale(n: int, factor: int) -> int:
            return n * factor

        @task
        def total(values: list[int]) -> None:
            totals.append(sum(values))

        total(scale.partial(factor=10).expand(n=numbers()))
        BashOperator.partial(task_id="echo").expand(bash_command=["echo a", "echo b"])
    record = run_dag(d, DAY)
    states = _states(record)
    assert totals == [60]
    assert {k for k in states if k.startswith("scale[")} == {"scale[0]", "scale[1]", "scale[2]"}
    assert states["echo[0]"] == states["echo[1]"] == "success"


def test_mapping_over_empty_list_skips() -> None:
    with DAG("me", start_date=START, schedule=None) as d:

        @task
        def nothing() -> list[int]:
            return []

        @task
        def each(n: int) -> int:
            return n

        each.expand(n=nothing())
    assert _states(run_dag(d, DAY))["each"] == "skipped"


def test_params_defaults_conf_override_and_validation() -> None:
    """Param defaults apply, run conf overrides them, and an invalid value refuses the run (Airflow's dags test)."""
    seen: list[Any] = []
    with DAG("p", start_date=START, schedule=None, params={"n": Param(5, type="integer", minimum=1)}) as d:
        PythonOperator(task_id="t", python_callable=lambda params: seen.append(params["n"]))
    run_dag(d, DAY)
    run_dag(d, DAY, conf={"n": 7})
    with pytest.raises(ParamValidationError, match="seven"):
        run_dag(d, DAY, conf={"n": "seven"})
    assert seen == [5, 7]


def test_callbacks_receive_context() -> None:
    calls: list[str] = []
    with DAG("cb", start_date=START, schedule=None, on_failure_callback=lambda ctx: calls.append("dag-failed")) as d:
        _bash("ok", on_success_callback=lambda ctx: calls.append(f"ok:{ctx['ti'].task_id}"))
        _bash("bad", "exit 1", on_failure_callback=lambda ctx: calls.append(f"bad:{type(ctx['exception']).__name__}"))
    run_dag(d, DAY)
    assert sorted(calls) == ["bad:AirflowException", "dag-failed", "ok:ok"]


def test_bash_env_cwd_and_append_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTER", "outer")
    out = tmp_path / "o"
    with DAG("env", start_date=START, schedule=None) as d:
        _bash("only", f'echo "${{OUTER:-none}} $X $(pwd)" > {out}.1', env={"X": "x"}, cwd=str(tmp_path))
        _bash("append", f'echo "$OUTER $X" > {out}.2', env={"X": "y"}, append_env=True)
    run_dag(d, DAY)
    assert Path(f"{out}.1").read_text().split() == ["none", "x", str(tmp_path)]
    assert Path(f"{out}.2").read_text().split() == ["outer", "y"]


def test_bash_script_file_is_a_template(tmp_path: Path) -> None:
    """A bash_command ending in .sh is read from the DAG folder / template_searchpath and rendered."""
    (tmp_path / "job.sh").write_text("echo {{ ds }} > {{ params.out }}\n")
    out = tmp_path / "out"
    with DAG("file", start_date=START, schedule=None, template_searchpath=str(tmp_path)) as d:
        _bash("job", "job.sh", params={"out": str(out)})
    run_dag(d, DAY)
    assert out.read_text().strip() == "2024-03-05"


def test_task_bash_decorator_renders_and_returns_last_line(tmp_path: Path) -> None:
    """@task.bash: the function returns a command; it is templated, run, and its last line is the XCom."""
    seen: list[Any] = []
    with DAG("tb", start_date=START, schedule=None) as d:

        @task.bash(env={"WHO": "bash"})
        def greet(name: str) -> str:
            return f"echo hello {name} from $WHO on {{{{ ds }}}}"

        @task
        def keep(line: str) -> None:
            seen.append(line)

        keep(greet("ct"))
    assert _states(run_dag(d, DAY)) == {"greet": "success", "keep": "success"}
    assert seen == ["hello ct from bash on 2024-03-05"]


def test_conn_and_macros_in_templates(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """conn.<id> fields and the macros namespace (ds_format, datetime, timedelta, uuid, random, time) render."""
    monkeypatch.setenv("AIRFLOW_CONN_MY_DB", "mysql://user:secret@db.example:3306/sales")
    out = tmp_path / "out"
    cmd = (
        "echo {{ conn.my_db.host }} {{ conn.my_db.port }} {{ conn.my_db.schema }} "
        "{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }} {{ macros.datetime(2024, 1, 2).year }} "
        "{{ macros.timedelta(days=2).days }} {{ macros.uuid.uuid4() | string | length }} "
        "{{ macros.random() < 1 }} {{ macros.time.time() > 0 }} > " + str(out)
    )
    with DAG("cm", start_date=START, schedule=None) as d:
        _bash("t", cmd)
    assert _states(run_dag(d, DAY)) == {"t": "success"}
    assert out.read_text().split() == ["db.example", "3306", "sales", "05/03/2024", "2024", "2", "36", "True", "True"]
