"""botocore's own ``mwaa`` service model: request checks, modeled exceptions and error responses.

The client validates every request against the model's input shape (``ParamValidationError``,
as boto3 raises) and raises the model's exception classes, built by botocore's factory, so
``except client.exceptions.RestApiClientException`` works as with ``boto3.client("mwaa")``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

SERVICE = "mwaa"


@cache
def service_model() -> Any:
    """The ``mwaa`` model from botocore's data files."""
    import botocore.session

    return botocore.session.get_session().get_service_model(SERVICE)


def operation(name: str) -> Any:
    """One operation model (``CreateWebLoginToken``...)."""
    return service_model().operation_model(name)


def exceptions() -> Any:
    """The modeled exception classes (``RestApiClientException``...), botocore ClientError subclasses."""
    from botocore.errorfactory import ClientExceptionsFactory

    return ClientExceptionsFactory().create_client_exceptions(service_model())


def validate_request(operation_name: str, params: dict[str, Any], errors: Any = None) -> None:
    """``ParamValidationError`` when ``params`` do not fit the input shape (as boto3 checks before sending);
    a value outside a member's enum is the ValidationException MWAA itself would answer."""
    from botocore.exceptions import ParamValidationError
    from botocore.validate import ParamValidator

    shape = operation(operation_name).input_shape
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())
    for name, value in params.items():
        allowed = getattr(shape.members[name], "enum", None) or []
        if allowed and value not in allowed:
            raise client_error(errors or exceptions(), "ValidationException",
                               f"{name} {value!r} is not one of {', '.join(allowed)}", operation_name, 400)


def response_errors(operation_name: str, response: dict[str, Any]) -> str:
    """Where ``response`` (without ResponseMetadata) departs from the output shape; empty if it fits."""
    from botocore.validate import ParamValidator

    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(body, operation(operation_name).output_shape)
    return str(report.generate_report()) if report.has_errors() else ""


def metadata(status: int) -> dict[str, Any]:
    """A ``ResponseMetadata`` entry as boto3 adds to every answer."""
    return {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}


def client_error(errors: Any, code: str, message: str, operation_name: str, status: int, **fields: Any) -> Exception:
    """The modeled exception for ``code`` (or a plain ClientError), shaped as botocore parses errors."""
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata(status), **fields}
    error_class = errors.from_code(code)
    exc: Exception = error_class(response, operation_name)
    return exc
