"""Which Airflow role an IAM identity gets: an explicit mapping from ARNs, ARN patterns and role names.

The mapping is ``[webserver] iam_role_mapping``, a JSON object whose keys are

- an exact ARN (``arn:aws:iam::123456789012:user/alice``, ``arn:aws:iam::123456789012:role/ops``),
- an ARN pattern with ``*`` / ``?`` (``arn:aws:sts::123456789012:assumed-role/data-*/*``), or
- a bare IAM role name (``prod-Admin``, ``team-*``), which only counts for identities of
  ``[webserver] iam_account_id`` (a role of that name in another account is someone else's),

and whose values are role names. The most specific rule wins: exact ARN, then exact role name,
then patterns in the order written. An assumed-role identity
(``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION``) also matches as its role's ARN
(``arn:aws:iam::ACCOUNT:role/NAME``; STS does not say the role's path). No rule, no access.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from runtime.errors import ConfigError
from runtime.web.auth.roles import Role, parse_role

SETTING = "[webserver] iam_role_mapping"
ACCOUNT = re.compile(r"^\d{12}$")
ROLE_NAME = re.compile(r"^[\w+=,.@*?-]{1,64}$")
ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<name>[^/]+)/[^/]+$")
IAM_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[^/]+)$")
ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+::(?P<account>\d{12}):")


@dataclass(frozen=True)
class Identity:
    """What STS says about a caller: its ARN, account and unique id."""

    arn: str
    account: str
    user_id: str = ""

    def names(self) -> tuple[str, ...]:
        """The ARNs this identity matches as: itself, and for an assumed role its role's ARN."""
        found = ASSUMED_ROLE.match(self.arn)
        if found is None:
            return (self.arn,)
        return (self.arn, f"arn:{found['partition']}:iam::{found['account']}:role/{found['name']}")

    def role_name(self) -> str | None:
        """The IAM role behind an assumed-role or role ARN, else None."""
        found = ASSUMED_ROLE.match(self.arn) or IAM_ROLE.match(self.arn)
        return found["name"] if found else None


def _is_pattern(key: str) -> bool:
    return "*" in key or "?" in key


@dataclass(frozen=True)
class RoleMapping:
    """Parsed rules: (key, role) pairs in the order written, and the account bare role names belong to."""

    rules: tuple[tuple[str, Role], ...] = ()
    account_id: str = ""

    @classmethod
    def parse(cls, text: str, account_id: str = "") -> RoleMapping:
        """Rules from the setting's JSON; a ConfigError naming the setting and the bad entry otherwise."""
        try:
            raw = json.loads(text or "{}")
        except ValueError as exc:
            raise ConfigError(f"{SETTING} is not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{SETTING} must be a JSON object of ARN or role name -> role")
        if account_id and not ACCOUNT.match(account_id):
            raise ConfigError(f"[webserver] iam_account_id {account_id!r} is not a 12-digit AWS account id")
        rules = tuple(cls._rule(str(key), value, account_id) for key, value in raw.items())
        return cls(rules, account_id)

    @staticmethod
    def _rule(key: str, value: object, account_id: str) -> tuple[str, Role]:
        try:
            role = parse_role(str(value))
        except ValueError as exc:
            raise ConfigError(f"{SETTING}: {key!r}: {exc}") from None
        if key.startswith("arn:"):
            return key, role
        if not ROLE_NAME.match(key):
            raise ConfigError(f"{SETTING}: {key!r} is neither an ARN (arn:...) nor an IAM role name")
        if not account_id:
            raise ConfigError(f"{SETTING}: role name {key!r} needs [webserver] iam_account_id (whose role it is)")
        return key, role

    def role_for(self, identity: Identity) -> Role | None:
        """The role of ``identity``, or None when no rule names it."""
        names = identity.names()
        role_name = identity.role_name() if identity.account == self.account_id else None
        tiers = (
            [r for k, r in self.rules if k.startswith("arn:") and not _is_pattern(k) and k in names],
            [r for k, r in self.rules if not k.startswith("arn:") and not _is_pattern(k) and k == role_name],
            [r for k, r in self.rules if k.startswith("arn:") and _is_pattern(k)
             and any(fnmatchcase(n, k) for n in names)],
            [r for k, r in self.rules if not k.startswith("arn:") and _is_pattern(k)
             and role_name is not None and fnmatchcase(role_name, k)],
        )
        for matches in tiers:
            if matches:
                return matches[0]
        return None


def account_of(arn: str) -> str:
    """The account id inside an ARN (empty if it has none)."""
    found = ARN_ACCOUNT.match(arn)
    return found["account"] if found else ""
