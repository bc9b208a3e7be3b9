"""The Python client of a Windsock environment: boto3's ``mwaa`` operations, IAM sign-in, uploads.

    from runtime.client import Client
    mwaa = Client("prod")                       # finds stack Windsock-prod with boto3
    mwaa.invoke_rest_api(Name="prod", Path="/dags", Method="GET")["RestApiResponse"]
"""

from runtime.client.client import Client, CliResult

__all__ = ["CliResult", "Client"]
