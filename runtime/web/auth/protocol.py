"""What an IAM sign-in proof is, shared by the web server (runtime/web/auth/iam.py) and the client.

A proof is a SigV4-signed ``POST /`` to STS with exactly :data:`BODY`, signing at least the
``Host``, ``X-Amz-Date`` and :data:`SERVER_ID_HEADER` headers; the caller sends it as JSON
``{"headers": {...}, "body": BODY}`` to :data:`WEB_LOGIN_PATH` or :data:`CLI_TOKEN_PATH`.
"""

SERVER_ID_HEADER = "x-windsock-server-id"
BODY = "Action=GetCallerIdentity&Version=2011-06-15"
WEB_LOGIN_PATH, CLI_TOKEN_PATH = "/iam/web-login-token", "/iam/cli-token"
SSO_PAGE, CLI_PATH = "/aws_mwaa/aws-console-sso", "/aws_mwaa/cli"
