"""Who is calling and what they may do: principals, roles, signed tokens and sessions.

IAM sign-in (a later layer) only has to produce a :class:`Principal` and call
:func:`runtime.web.auth.tokens.issue_login_token` or ``issue_api_token`` for it.
"""

from runtime.web.auth.roles import Permission, Principal, Role

__all__ = ["Permission", "Principal", "Role"]
