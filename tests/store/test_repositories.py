"""Repositories on both backends: secrets encrypted at rest, pools, XCom, import errors, audit, delete_dag."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from runtime.errors import UserError, WindsockError
from runtime.sdk.connection import Connection
from runtime.store import audit, connections, import_errors, pools, variables, xcom
from runtime.store.crypto import get_fernet
from runtime.store.dags import delete_dag
from runtime.store.models import (
    AssetDagCursor,
    Base,
    ConnectionModel,
    DagModel,
    DagRunAssetEvent,
    Log,
    SerializedDagModel,
    TaskInstanceHistory,
    TaskReschedule,
    Variable,
)
from tests.store.helpers import T0, add_run, add_tis


def test_configured_fernet_keys_rotate(store) -> None:
    """The first configured key encrypts; older keys still decrypt."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = get_fernet(store.settings.with_overrides(core__fernet_key=old)).encrypt(b"x")
    rotated = get_fernet(store.settings.with_overrides(core__fernet_key=f"{new},{old}"))
    assert rotated.decrypt(token) == b"x"
    assert not (store.settings.home / "fernet.key").exists()


def test_invalid_fernet_key_is_a_config_error(store) -> None:
    """A malformed key names the setting."""
    with pytest.raises(UserError, match="fernet_key"):
        get_fernet(store.settings.with_overrides(core__fernet_key="not-a-key"))


def test_connection_password_and_extra_are_encrypted_at_rest(store) -> None:
    """The raw columns hold ciphertext; the repository gives the plain values back."""
    fernet = get_fernet(store.settings)
    conn = Connection.from_uri("pg", "postgres://bob:s3cret@db:5432/app?sslmode=require")
    with store.session_factory() as session:
        connections.set_connection(session, conn, fernet=fernet)
        session.commit()
    with store.engine.connect() as raw:
        password, extra = raw.execute(sa.select(ConnectionModel.password, ConnectionModel.extra)).one()
    assert "s3cret" not in password and "sslmode" not in extra
    with store.session_factory() as session:
        back = connections.get_connection(session, "pg", fernet=fernet)
    assert (back.password, back.extra_dejson, back.port, back.host) == (
        "s3cret",
        {"sslmode": "require"},
        5432,
        "db",
    )


def test_wrong_key_gives_a_clear_error(store) -> None:
    """Decrypting with another key names the connection instead of raising InvalidToken."""
    with store.session_factory() as session:
        connections.set_connection(
            session, Connection("c", "http", password="p"), fernet=get_fernet(store.settings)
        )
        session.commit()
        other = get_fernet(store.settings.with_overrides(core__fernet_key=Fernet.generate_key().decode()))
        with pytest.raises(WindsockError, match="connection 'c'"):
            connections.get_connection(session, "c", fernet=other)


def test_connection_list_replace_and_delete(store) -> None:
    """set replaces, list is by id, delete reports whether something went."""
    fernet = get_fernet(store.settings)
    with store.session_factory() as session:
        connections.set_connection(session, Connection("b", "http", host="one"), fernet=fernet)
        connections.set_connection(session, Connection("a", "http"), fernet=fernet)
        connections.set_connection(session, Connection("b", "http", host="two"), fernet=fernet)
        assert [(c.conn_id, c.host) for c in connections.list_connections(session, fernet=fernet)] == [
            ("a", None),
            ("b", "two"),
        ]
        assert connections.delete_connection(session, "a")
        assert not connections.delete_connection(session, "a")
        assert connections.get_connection(session, "a", fernet=fernet) is None


def test_variables_encrypted_or_plain(store) -> None:
    """With a Fernet the stored val is ciphertext; without, plain; reads decrypt transparently."""
    fernet = get_fernet(store.settings)
    with store.session_factory() as session:
        variables.set_variable(session, "secret", "hunter2", description="pw", fernet=fernet)
        variables.set_variable(session, "plain", "v")
        session.commit()
        raw = {row.key: row.val for row in session.scalars(sa.select(Variable))}
        assert raw["plain"] == "v" and "hunter2" not in raw["secret"]
        assert variables.get_variable(session, "secret", fernet=fernet) == "hunter2"
        assert variables.get_variable(session, "missing") is None
        assert [v.key for v in variables.list_variables(session)] == ["plain", "secret"]
        assert variables.delete_variable(session, "plain") and not variables.delete_variable(session, "plain")


def test_pools(store) -> None:
    """set/get/list; default_pool cannot be deleted; bad slot counts are user errors."""
    with store.session_factory() as session:
        pools.set_pool(session, "etl", 4, "nightly")
        pools.set_pool(session, "etl", 5)
        assert (pools.get_pool(session, "etl").slots, pools.get_pool(session, "etl").description) == (
            5,
            "nightly",
        )
        assert [p.pool for p in pools.list_pools(session)] == ["default_pool", "etl"]
        with pytest.raises(UserError, match="default_pool"):
            pools.delete_pool(session, "default_pool")
        with pytest.raises(UserError, match="slots"):
            pools.set_pool(session, "bad", -2)
        assert pools.delete_pool(session, "etl") and not pools.delete_pool(session, "etl")


def test_occupied_slots_counts_queued_and_running(store) -> None:
    """Only queued and running task instances hold slots, weighted by pool_slots."""
    with store.session_factory() as session:
        tis = add_tis(session, add_run(session), 4)
        for ti, state, slots in zip(tis, ["queued", "running", "success", None], [2, 3, 5, 7], strict=True):
            ti.state, ti.pool_slots = state, slots
        session.flush()
        assert pools.occupied_slots(session) == {"default_pool": 5}


def test_xcom_roundtrip(store) -> None:
    """Values per key (types kept); a second push replaces; get_many filters; delete by task."""
    with store.session_factory() as session:
        add_run(session)
        ids = {"dag_id": "d", "run_id": "r1"}
        xcom.set_xcom(session, **ids, task_id="a", value={"n": 1})
        xcom.set_xcom(session, **ids, task_id="a", value={"n": 2})
        xcom.set_xcom(session, **ids, task_id="a", key="other", value=[1, "x"])
        xcom.set_xcom(session, **ids, task_id="b", value=None, map_index=0)
        xcom.set_xcom(session, **ids, task_id="c", value={"at": T0})
        with pytest.raises(TypeError, match="object cannot be stored"):
            xcom.set_xcom(session, **ids, task_id="c", key="bad", value=object())
        session.commit()
        assert xcom.get_xcom(session, **ids, task_id="a") == {"n": 2}
        assert xcom.get_xcom(session, **ids, task_id="a", key="other") == [1, "x"]
        assert xcom.get_xcom(session, **ids, task_id="b", map_index=0, default="d") is None
        assert xcom.get_xcom(session, **ids, task_id="zzz", default="d") == "d"
        assert xcom.get_xcom(session, **ids, task_id="c") == {"at": T0}
        rows = xcom.get_many(session, **ids, task_ids=["a", "b"])
        assert [(r.task_id, r.map_index, xcom.decode(r.value)) for r in rows] == [
            ("a", -1, {"n": 2}),
            ("b", 0, None),
        ]
        assert xcom.delete_xcoms(session, **ids, task_id="a") == 2
        assert [r.task_id for r in xcom.get_many(session, **ids, key=None)] == ["b", "c"]


def test_import_errors(store) -> None:
    """One row per file, replaced on re-record, cleared when the file parses."""
    with store.session_factory() as session:
        import_errors.record_import_error(session, "/d/a.py", "boom 1", timestamp=T0)
        import_errors.record_import_error(session, "/d/a.py", "boom 2")
        import_errors.record_import_error(session, "/d/b.py", "bad")
        rows = import_errors.list_import_errors(session)
        assert [(r.filename, r.stacktrace) for r in rows] == [("/d/a.py", "boom 2"), ("/d/b.py", "bad")]
        assert import_errors.clear_import_error(session, "/d/a.py")
        assert not import_errors.clear_import_error(session, "/d/a.py")


def test_audit_log(store) -> None:
    """log_event writes a row with owner and extra; list_events is newest first."""
    with store.session_factory() as session:
        audit.log_event(session, "cli_pause", owner="ann", dag_id="d", dttm=T0)
        audit.log_event(session, "cli_unpause", owner="ann", dag_id="d", extra={"why": "x"})
        session.commit()
        events = audit.list_events(session, dag_id="d")
        assert [(e.event, e.owner, e.extra) for e in events] == [
            ("cli_unpause", "ann", {"why": "x"}),
            ("cli_pause", "ann", None),
        ]


def _seed_dag(session, dag_id: str) -> None:
    """One row of the DAG in every table that has a dag_id."""
    session.add(DagModel(dag_id=dag_id, fileloc="/f.py"))
    session.add(SerializedDagModel(dag_id=dag_id, fileloc="/f.py", data="{}", dag_hash="h", last_updated=T0))
    run = add_run(session, dag_id=dag_id, run_id="r1")
    add_run(session, dag_id=dag_id, run_id="r22")
    (ti,) = add_tis(session, run, 1, "success")
    session.add(TaskInstanceHistory(dag_id=dag_id, run_id="r1", task_id="t0", try_number=1, state="failed"))
    end = T0 + dt.timedelta(minutes=1)
    session.add(
        TaskReschedule(
            dag_id=dag_id,
            run_id="r1",
            task_id="t0",
            try_number=1,
            start_date=T0,
            end_date=end,
            reschedule_date=end,
        )
    )
    xcom.set_xcom(session, dag_id=dag_id, run_id="r1", task_id="t0", value=1)
    session.add(DagRunAssetEvent(dag_id=dag_id, run_id="r1", event_id=1))
    session.add(AssetDagCursor(dag_id=dag_id, last_event_id=1))
    audit.log_event(session, "trigger", dag_id=dag_id)
    session.flush()


def test_delete_dag_removes_every_row_of_that_dag_only(store) -> None:
    """Every table loses exactly the DAG's rows; another DAG and the audit log are untouched."""
    with store.session_factory() as session:
        _seed_dag(session, "gone")
        _seed_dag(session, "kept")
        session.commit()
    with store.session_factory() as session:
        counts = delete_dag(session, "gone")
        session.commit()
    assert counts == {
        "xcom": 1,
        "task_reschedule": 1,
        "task_instance_history": 1,
        "task_instance": 1,
        "dag_run_asset_event": 1,
        "dag_run": 2,
        "serialized_dag": 1,
        "asset_dag_cursor": 1,
        "dag": 1,
    }
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if "dag_id" not in table.c:
                continue
            left = conn.execute(sa.select(sa.func.count()).where(table.c.dag_id == "gone")).scalar()
            kept = conn.execute(sa.select(sa.func.count()).where(table.c.dag_id == "kept")).scalar()
            assert (left, kept > 0) == ((1, True) if table is Log.__table__ else (0, True)), table.name
