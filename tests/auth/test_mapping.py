"""The role mapping: exact ARNs, role names of the environment's account, patterns; most specific wins."""

from __future__ import annotations

import pytest

from runtime.errors import ConfigError
from runtime.web.auth.mapping import Identity, RoleMapping
from runtime.web.auth.roles import Role

ACCOUNT = "123456789012"


def _who(arn: str) -> Identity:
    return Identity(arn=arn, account=arn.split(":")[4])


def test_assumed_role_matches_by_role_name_only_in_the_environment_account() -> None:
    """'prod-Admin' maps the role in the configured account; a role of that name elsewhere gets nothing."""
    mapping = RoleMapping.parse('{"prod-Admin": "Admin"}', ACCOUNT)
    assert mapping.role_for(_who(f"arn:aws:sts::{ACCOUNT}:assumed-role/prod-Admin/alice")) is Role.ADMIN
    assert mapping.role_for(_who("arn:aws:sts::999999999999:assumed-role/prod-Admin/eve")) is None


def test_exact_arn_beats_role_name_which_beats_patterns() -> None:
    """An exact ARN rule wins over a name rule, which wins over a pattern, whatever the order written."""
    text = ('{"arn:aws:sts::123456789012:assumed-role/data-*/*": "Viewer", "data-eng": "User", '
            '"arn:aws:iam::123456789012:role/data-eng": "Op"}')
    mapping = RoleMapping.parse(text, ACCOUNT)
    assert mapping.role_for(_who(f"arn:aws:sts::{ACCOUNT}:assumed-role/data-eng/bob")) is Role.OP
    assert mapping.role_for(_who(f"arn:aws:sts::{ACCOUNT}:assumed-role/data-science/carol")) is Role.VIEWER
    by_name = RoleMapping.parse('{"arn:aws:sts::*:assumed-role/*/*": "Viewer", "data-eng": "User"}', ACCOUNT)
    assert by_name.role_for(_who(f"arn:aws:sts::{ACCOUNT}:assumed-role/data-eng/bob")) is Role.USER


def test_user_arns_and_name_patterns() -> None:
    """A user is mapped by its exact ARN; a name pattern maps roles of the account; role paths are ignored."""
    mapping = RoleMapping.parse(f'{{"arn:aws:iam::{ACCOUNT}:user/alice": "op", "team-*": "User"}}', ACCOUNT)
    assert mapping.role_for(_who(f"arn:aws:iam::{ACCOUNT}:user/alice")) is Role.OP
    assert mapping.role_for(_who(f"arn:aws:iam::{ACCOUNT}:user/bob")) is None
    assert mapping.role_for(_who(f"arn:aws:iam::{ACCOUNT}:role/teams/team-a")) is Role.USER


@pytest.mark.parametrize(("text", "account", "message"), [
    ("[1]", ACCOUNT, "must be a JSON object"),
    ("{", ACCOUNT, "not valid JSON"),
    ('{"prod-Admin": "Root"}', ACCOUNT, "unknown role 'Root'"),
    ('{"prod-Admin": "Admin"}', "", "needs [webserver] iam_account_id"),
    ('{"not a name!": "Admin"}', ACCOUNT, "neither an ARN"),
    ("{}", "12345", "12-digit"),
])
def test_bad_mappings_name_the_setting_and_the_entry(text: str, account: str, message: str) -> None:
    """Every mistake is a ConfigError that names [webserver] iam_role_mapping (or iam_account_id) and the entry."""
    with pytest.raises(ConfigError, match="iam_") as caught:
        RoleMapping.parse(text, account)
    assert message in str(caught.value)
