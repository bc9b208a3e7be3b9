"""Roles with Airflow's meanings, and the permissions each one grants."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Airflow's built-in roles, weakest first."""

    VIEWER = "Viewer"
    USER = "User"
    OP = "Op"
    ADMIN = "Admin"


class Permission(StrEnum):
    """What a route needs."""

    READ = "read"  # DAGs, runs, task instances, logs, XComs, import errors, audit log, health
    EDIT_DAGS = "edit_dags"  # trigger, pause/unpause, clear, mark success/failed, delete a run
    CONFIG = "config"  # variables, connections and pools: read and write
    ADMIN = "admin"  # everything, e.g. sign-in links for other identities


# Airflow: Viewer reads; User also operates DAGs; Op also manages variables, connections and
# pools; Admin everything.
_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.USER: frozenset({Permission.READ, Permission.EDIT_DAGS}),
    Role.OP: frozenset({Permission.READ, Permission.EDIT_DAGS, Permission.CONFIG}),
    Role.ADMIN: frozenset(Permission),
}


def allows(role: Role, permission: Permission) -> bool:
    """True if ``role`` grants ``permission``."""
    return permission in _GRANTS[role]


def parse_role(text: str) -> Role:
    """A role from its name (case-insensitive); ValueError naming the choices otherwise."""
    for role in Role:
        if role.value.lower() == str(text).strip().lower():
            return role
    raise ValueError(f"unknown role {text!r}; choose one of {', '.join(r.value for r in Role)}")


@dataclass(frozen=True)
class Principal:
    """A signed-in caller: an identity (an IAM ARN, or e.g. ``standalone:admin``) and a role."""

    identity: str
    role: Role

    def can(self, permission: Permission) -> bool:
        """True if this principal's role grants ``permission``."""
        return allows(self.role, permission)
