"""The sign-in construct: per-role IAM roles and managed policies, the web server's key and IAM settings,
and the outputs the client reads; the client finds a stack deployed in moto from them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk.settings import SettingsError, settings_from_mapping
from tests.cdk.conftest import Synth
from tests.cdk.helpers import containers, env_of

pytestmark = pytest.mark.cdk
AIRFLOW_ROLES = ("Viewer", "User", "Op", "Admin")


def _by_type(synth: Synth, kind: str) -> dict[str, dict[str, Any]]:
    return synth.resources(kind)


def _ref_name(value: Any) -> str:
    """The logical id a Ref/GetAtt points at (or the string itself)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return json.dumps(value)


def test_one_role_per_airflow_role_trusting_the_account_with_no_permissions(any_synth: Synth) -> None:
    """<env>-Viewer..Admin exist, trust only this account's identities, and carry no policy at all."""
    env = any_synth.stack.settings.env_name
    roles = {r["Properties"].get("RoleName"): (lid, r) for lid, r in _by_type(any_synth, "AWS::IAM::Role").items()}
    attached = json.dumps([p["Properties"].get("Roles", []) for p in _by_type(any_synth, "AWS::IAM::Policy").values()])
    for airflow_role in AIRFLOW_ROLES:
        logical_id, role = roles[f"{env}-{airflow_role}"]
        trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert len(trust) == 1 and trust[0]["Action"] == "sts:AssumeRole"
        assert ":root" in json.dumps(trust[0]["Principal"]) and "AccountId" in json.dumps(trust[0]["Principal"])
        assert "ManagedPolicyArns" not in role["Properties"] and "Policies" not in role["Properties"]
        assert logical_id not in attached
        assert role["Properties"]["MaxSessionDuration"] == 3600


def test_each_managed_policy_allows_assuming_only_its_role_and_finding_the_stack(any_synth: Synth) -> None:
    """<env>-Admin allows sts:AssumeRole on <env>-Admin only, and DescribeStacks on Windsock-<env> only."""
    env = any_synth.stack.settings.env_name
    role_ids = {r["Properties"]["RoleName"]: lid for lid, r in _by_type(any_synth, "AWS::IAM::Role").items()
                if "RoleName" in r["Properties"]}
    policies = {p["Properties"]["ManagedPolicyName"]: p["Properties"]
                for p in _by_type(any_synth, "AWS::IAM::ManagedPolicy").values()}
    for airflow_role in AIRFLOW_ROLES:
        statements = policies[f"{env}-{airflow_role}"]["PolicyDocument"]["Statement"]
        by_action = {s["Action"]: s for s in statements}
        assert set(by_action) == {"sts:AssumeRole", "cloudformation:DescribeStacks"}
        assert all(s["Effect"] == "Allow" for s in statements)
        assert _ref_name(by_action["sts:AssumeRole"]["Resource"]) == role_ids[f"{env}-{airflow_role}"]
        assert f":stack/Windsock-{env}/*" in json.dumps(by_action["cloudformation:DescribeStacks"]["Resource"])


def test_web_server_gets_its_key_from_secrets_manager_and_iam_settings(any_synth: Synth) -> None:
    """The web server container verifies with the regional STS and maps the four roles; the key is generated."""
    env = any_synth.stack.settings.env_name
    web = env_of(containers(any_synth)["webserver"])
    assert "sts." in json.dumps(web["WINDSOCK__WEBSERVER__IAM_STS_ENDPOINT"])
    assert "AWS::AccountId" in json.dumps(web["WINDSOCK__WEBSERVER__IAM_ACCOUNT_ID"])
    mapping = json.loads(web["WINDSOCK__WEBSERVER__IAM_ROLE_MAPPING"])
    assert {mapping[f"{env}-{role}"] for role in AIRFLOW_ROLES} == set(AIRFLOW_ROLES)
    assert web["WINDSOCK_ENV_NAME"] == env
    secrets = {s["Name"] for s in containers(any_synth)["webserver"]["Secrets"]}
    assert "WINDSOCK__WEBSERVER__SECRET_KEY" in secrets
    generated = [s for s in _by_type(any_synth, "AWS::SecretsManager::Secret").values()
                 if "signs Windsock web sessions" in s["Properties"].get("Description", "")]
    assert len(generated) == 1 and generated[0]["Properties"]["GenerateSecretString"]["PasswordLength"] == 64


def test_outputs_name_what_the_client_needs(default_synth: Synth) -> None:
    """Server id, STS endpoint, the role and policy ARNs, and the published settings are stack outputs."""
    outputs = default_synth.json["Outputs"]
    expected = {"SignInServerId", "SignInStsEndpoint", "EnvironmentConfig"}
    expected |= {f"SignIn{kind}{role}" for kind in ("Role", "Policy") for role in AIRFLOW_ROLES}
    assert expected <= set(outputs)
    assert outputs["SignInServerId"]["Value"] == "windsock"
    config = json.loads(outputs["EnvironmentConfig"]["Value"])
    assert config["EnvironmentClass"] == "mw1.small" and config["WebserverAccessMode"] == "PUBLIC_ONLY"


def test_context_mapping_is_added_and_checked() -> None:
    """-c iam_role_mapping adds ARNs, patterns and role names; a bad role or key names the context key."""
    settings = settings_from_mapping({"iam_role_mapping": '{"arn:aws:iam::123456789012:role/data": "user", '
                                                          '"ops-*": "Op"}'})
    assert dict(settings.iam_role_mapping) == {"arn:aws:iam::123456789012:role/data": "User", "ops-*": "Op"}
    with pytest.raises(SettingsError, match="iam_role_mapping.*'Root' is not one of"):
        settings_from_mapping({"iam_role_mapping": '{"ops": "Root"}'})
    with pytest.raises(SettingsError, match="iam_role_mapping.*neither"):
        settings_from_mapping({"iam_role_mapping": '{"arn:aws:s3:::bucket": "Admin"}'})
