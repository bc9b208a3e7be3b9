"""What an IAM sign-in proof is, shared by the web server (runtime/web/auth/iam.py) and the client.

A proof is a SigV4-signed ``POST /`` to STS with exactly :data:`BODY`, signing at least the
``Host``, ``X-Amz-Date`` and :data:`SERVER_ID_HEADER` headers (and :data:`NONCE_HEADER`); the caller sends it as JSON
``{"headers": {...}, "body": BODY}`` to :data:`WEB_LOGIN_PATH` or :data:`CLI_TOKEN_PATH`.
"""

SERVER_ID_HEADER = "x-windsock-server-id"
# A random value the client signs too: SigV4 is deterministic, so two proofs signed in the same
# second would otherwise be identical, and the second would count as a replay.
NONCE_HEADER = "x-windsock-nonce"
BODY = "Action=GetCallerIdentity&Version=2011-06-15"
WEB_LOGIN_PATH, CLI_TOKEN_PATH = "/iam/web-login-token", "/iam/cli-token"
SSO_PAGE, CLI_PATH = "/aws_mwaa/aws-console-sso", "/aws_mwaa/cli"
