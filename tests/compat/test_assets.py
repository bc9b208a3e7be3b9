"""Assets and datasets: conditions, outlet/inlet events in ``dags test``, and runs created from events by the scheduler."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

from runtime.compat.api import DAG
from runtime.inprocess import MemoryServices, run_dag
from runtime.rules.assets import condition_met
from runtime.sdk import task
from runtime.sdk.assets import Asset, AssetAlias, AssetOrTimeSchedule, Dataset, Metadata, as_condition, asset
from runtime.sdk.serialization import serialize_dag
from runtime.sdk.timetables import CronTriggerTimetable, from_serialized
from runtime.store import assets as store_assets
from runtime.store.models import DagRun
from runtime.store.session import transaction
from tests.scheduler.helpers import Env

START = pendulum.datetime(2024, 1, 1, tz="UTC")


# -- conditions (pure) ---------------------------------------------------------------------------


def test_a_list_schedule_needs_every_asset_and_or_needs_one() -> None:
    a, b, c = Asset("s3://a"), Asset("s3://b"), Dataset("s3://c")
    every = as_condition([a, b]).as_json()
    assert not condition_met(every, {"asset:s3://a"})
    assert condition_met(every, {"asset:s3://a", "asset:s3://b"})
    either = ((a | b) & c).as_json()
    assert condition_met(either, {"asset:s3://b", "asset:s3://c"})
    assert not condition_met(either, {"asset:s3://a", "asset:s3://b"})


def test_asset_name_and_uri_default_to_each_other() -> None:
    assert (Asset("x").name, Asset("x").uri) == ("x", "x")
    assert Asset(uri="s3://b/k").name == "s3://b/k"
    assert Asset(name="n", uri="s3://b/k") == Asset(uri="s3://b/k")
    with pytest.raises(TypeError):
        Asset()


def test_asset_schedules_serialize_and_come_back() -> None:
    with DAG("consumer", start_date=START, schedule=[Asset("s3://a"), AssetAlias("al")]) as d:
        task(lambda: None, task_id="t")()
    data = serialize_dag(d)["timetable"]
    assert data == {"type": "asset", "condition": {"all": [{"asset": "s3://a", "name": "s3://a"}, {"alias": "al"}]}}
    assert from_serialized(data).serialize() == data
    both = AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 0 * * *", timezone="UTC"), assets=[Asset("s3://a")])
    assert from_serialized(both.serialize()).serialize() == both.serialize()
    assert both.summary.startswith("Asset")


# -- events inside a run (dags test) ------------------------------------------------------------


def test_outlet_events_carry_extra_from_yield_context_and_alias() -> None:
    """A successful try records one event per outlet asset; Metadata, outlet_events and aliases set extras."""
    a, b = Asset("s3://a"), Asset("s3://b")
    with DAG("producer", start_date=START, schedule=None) as d:
        @task(outlets=[a])
        def by_yield():  # type: ignore[no-untyped-def]
            yield Metadata(a, {"how": "yield"})

        @task(outlets=[b, AssetAlias("al")])
        def by_context(*, outlet_events: Any = None) -> None:
            outlet_events[b].extra = {"how": "context"}
            outlet_events[AssetAlias("al")].add(Asset("s3://c"), extra={"how": "alias"})

        by_yield() >> by_context()
    services = MemoryServices(environ={})
    assert run_dag(d, services=services, quiet=True).state == "success"
    got = {(e["uri"], e["alias"]): e["extra"] for e in services.events}
    assert got == {("s3://a", None): {"how": "yield"}, ("s3://b", None): {"how": "context"}, ("s3://c", "al"): {"how": "alias"}}


def test_inlet_events_read_earlier_events_and_failed_tries_record_none() -> None:
    a = Asset("s3://a")
    seen: list[Any] = []
    with DAG("p", start_date=START, schedule=None) as d:
        task(lambda: None, task_id="ok", outlets=[a])()

        @task(outlets=[Asset("s3://never")])
        def bad() -> None:
            raise ValueError("no event for me")

        @task(inlets=[a], trigger_rule="all_done")
        def read(*, inlet_events: Any = None) -> None:
            seen.extend(e.asset.uri for e in inlet_events[a])

        [bad(), d.get_task("ok")] >> read()
    services = MemoryServices(environ={})
    run_dag(d, services=services, quiet=True)
    assert seen == ["s3://a"] and [e["uri"] for e in services.events] == ["s3://a"]


def test_asset_decorator_makes_a_dag_whose_task_produces_the_asset() -> None:
    @asset(uri="s3://bucket/raw", schedule=None)
    def raw(self: Any, context: Any) -> str:
        return f"{self.uri} {context['ti'].task_id}"

    dag = raw.dag
    assert dag.dag_id == "raw" and dag.task_ids == ["raw"]
    services = MemoryServices(environ={})
    assert run_dag(dag, services=services, quiet=True).state == "success"
    assert services.xcom_get("raw", dag_run_id(services), "raw", "return_value", -1)[0][1] == "s3://bucket/raw raw"
    assert [e["uri"] for e in services.events] == ["s3://bucket/raw"]


def dag_run_id(services: MemoryServices) -> str:
    return next(iter(services.runs))[1]


# -- the scheduler: runs from events -------------------------------------------------------------


PRODUCER = '''
from airflow.sdk import Asset, task
with DAG("producer", start_date=datetime(2024, 1, 1), schedule=None) as p:
    @task(outlets=[Asset("s3://a")])
    def make_a(*, outlet_events=None):
        outlet_events[Asset("s3://a")].extra = {"rows": 3}
    make_a()
with DAG("producer_b", start_date=datetime(2024, 1, 1), schedule=None) as pb:
    @task(outlets=[Asset("s3://b")])
    def make_b():
        pass
    make_b()
with DAG("consumer", start_date=datetime(2024, 1, 1), schedule=[Asset("s3://a"), Asset("s3://b")]) as c:
    @task
    def use(*, triggering_asset_events=None):
        mark("use", events={a.uri: [e.extra for e in evs] for a, evs in triggering_asset_events.items()})
    use()
'''


def _consumer_runs(env: Env) -> list[Any]:
    with transaction(env.factory) as s:
        return list(s.execute(sa.select(DagRun.run_id, DagRun.run_type, DagRun.state).where(DagRun.dag_id == "consumer")))


def test_scheduler_creates_a_run_once_every_asset_of_the_condition_has_an_event(seq_env: Env) -> None:
    seq_env.write_dag("assets", PRODUCER)
    seq_env.sync()
    seq_env.step()  # the consumer is seen: its cursor starts after existing events
    seq_env.trigger("producer")
    seq_env.drive(seq_env.finished("producer"))
    seq_env.step()
    assert _consumer_runs(seq_env) == []  # s3://b has no event yet
    seq_env.trigger("producer_b")
    seq_env.drive(seq_env.finished("producer_b"))
    seq_env.drive(lambda: len(_consumer_runs(seq_env)) == 1)
    seq_env.drive(seq_env.finished("consumer"))
    run_id, run_type, state = _consumer_runs(seq_env)[0]
    assert (run_type, state) == ("asset_triggered", "success")
    assert seq_env.marks("use")[0]["events"] == {"s3://a": [{"rows": 3}], "s3://b": [{}]}
    with transaction(seq_env.factory) as s:
        assert [e["source_dag_id"] for e in store_assets.triggering_events(s, "consumer", run_id)] == ["producer", "producer_b"]
        listed = {a.uri: a for a in store_assets.list_assets(s)}
    assert listed["s3://a"].producers == {"producer.make_a"} and listed["s3://a"].consumers == {"consumer"}
    assert listed["s3://a"].events == 1
    seq_env.step()
    assert len(_consumer_runs(seq_env)) == 1  # the events were consumed: no second run
