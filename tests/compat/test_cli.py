"""``windsock assets list|events`` and param validation at ``dags trigger``, in-process against a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.cli.main import main
from runtime.sdk import timezone
from runtime.store import assets
from runtime.store.session import transaction
from tests.scheduler.helpers import Env

BODY = '''
from airflow.sdk import Asset, Param, task
with DAG("producer", start_date=datetime(2024, 1, 1), schedule=None) as p:
    @task(outlets=[Asset("s3://a")])
    def make_a():
        pass
    make_a()
with DAG("consumer", start_date=datetime(2024, 1, 1), schedule=[Asset("s3://a")]) as c:
    EmptyOperator(task_id="t")
with DAG("needs_param", start_date=datetime(2024, 1, 1), schedule=None, params={"n": Param(type="integer")}) as n:
    EmptyOperator(task_id="t")
'''


@pytest.fixture
def cli(seq_env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Env:
    """The CLI pointed at the scheduler env's store."""
    monkeypatch.setenv("WINDSOCK_HOME", str(tmp_path))
    monkeypatch.setenv("WINDSOCK__DATABASE__SQL_ALCHEMY_CONN", seq_env.store.url)
    seq_env.write_dag("cli_assets", BODY)
    seq_env.sync()
    return seq_env


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_assets_list_and_events_show_producers_consumers_and_extra(cli: Env, capsys: pytest.CaptureFixture[str]) -> None:
    with transaction(cli.factory) as s:
        assets.record_asset_events(s, dag_id="producer", run_id="r1", task_id="make_a", map_index=-1,
                                   events=[{"uri": "s3://a", "name": "s3://a", "extra": {"rows": 2}}], now=timezone.utcnow())
    code, out, _ = run(capsys, "assets", "list", "-o", "json")
    listed = {row["uri"]: row for row in json.loads(out)}
    assert code == 0 and listed["s3://a"]["producers"] == "producer.make_a" and listed["s3://a"]["consumers"] == "consumer"
    assert listed["s3://a"]["events"] == 1
    code, out, _ = run(capsys, "assets", "events", "s3://a", "-o", "json")
    (event,) = json.loads(out)
    assert code == 0 and event["source_run_id"] == "r1" and json.loads(event["extra"]) == {"rows": 2}
    code, out, err = run(capsys, "assets", "events", "--limit", "0")
    assert code != 0 and out == "" and "--limit" in err and err.count("\n") == 1


def test_trigger_refuses_a_run_whose_params_do_not_validate(cli: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "dags", "trigger", "needs_param")
    assert code != 0 and "'n'" in err and err.count("\n") == 1
    code, _, err = run(capsys, "dags", "trigger", "needs_param", "--conf", '{"n": "x"}')
    assert code != 0 and "integer" in err
    assert run(capsys, "dags", "trigger", "needs_param", "--conf", '{"n": 3}')[0] == 0
