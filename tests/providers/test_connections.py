"""``windsock connections test`` through the installed providers' hooks, and connections as the
providers read them (extra JSON: region_name, endpoint_url, role_arn, service_config)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.providers.conftest import base_env, windsock


@pytest.fixture
def env(providers_site: Path, tmp_path: Path, store: Any) -> dict[str, str]:
    return base_env(tmp_path / "home", providers_site, WINDSOCK__DATABASE__SQL_ALCHEMY_CONN=store.url)


def _add(env: dict[str, str], conn_id: str, conn: dict[str, Any]) -> None:
    done = windsock(env, "connections", "add", conn_id, "--conn-json", json.dumps(conn))
    assert done.returncode == 0, done.stderr


@pytest.mark.aws
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_aws_connection_assumes_its_role_arn_through_sts(env: dict[str, str], moto_endpoint: str) -> None:
    _add(env, "aws_etl", {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {
        "region_name": "eu-west-1", "endpoint_url": moto_endpoint, "role_arn": "arn:aws:iam::123456789012:role/etl",
        # the provider never sends STS calls to the global endpoint_url; moto's STS is named here
        "service_config": {"sts": {"endpoint_url": moto_endpoint}}}})
    done = windsock(env, "connections", "test", "aws_etl")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Connection success!" in done.stdout and "assumed-role/etl" in done.stdout
    assert "credentials_method='sts-assume-role'" in done.stdout and "region_name='eu-west-1'" in done.stdout


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sql_connections_succeed_or_fail_with_the_reason(env: dict[str, str], scratch_postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    u = make_url(scratch_postgres_url)
    _add(env, "pg", {"conn_type": "postgres", "host": u.host, "port": u.port, "login": u.username, "schema": u.database})
    ok = windsock(env, "connections", "test", "pg")
    assert ok.returncode == 0 and "Connection success!" in ok.stdout, ok.stdout + ok.stderr
    from tests.services import free_port

    _add(env, "pg_down", {"conn_type": "postgres", "host": "127.0.0.1", "port": free_port(), "login": "x"})
    down = windsock(env, "connections", "test", "pg_down")
    assert down.returncode == 1 and "Connection failed!" in down.stdout and "refused" in down.stdout


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_environment_connection_is_tested_and_an_unknown_one_is_one_line(env: dict[str, str]) -> None:
    env = {**env, "AIRFLOW_CONN_NOWHERE": "http://127.0.0.1:9"}
    done = windsock(env, "connections", "test", "nowhere")
    assert done.returncode == 1 and "Connection failed! (http:" in done.stdout
    missing = windsock(env, "connections", "test", "nope")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "'nope' is not defined" in missing.stderr
