"""Every error leaves the API as ``{"error": {"code", "message", "details"?}}`` with a 4xx/5xx status.

Client mistakes (bad JSON, wrong types, oversize fields, unknown ids, forged cursors) are 4xx and store
nothing; anything unexpected is a 500 whose body reveals no internals (the traceback goes to the log).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)

from service import errors
from service.observability import logger, metrics

STATUS_BY_ERROR: dict[type[errors.DomainError], HTTPStatus] = {
    errors.InvalidIdError: HTTPStatus.BAD_REQUEST,
    errors.InvalidCursorError: HTTPStatus.BAD_REQUEST,
    errors.NotFoundError: HTTPStatus.NOT_FOUND,
    errors.VersionConflictError: HTTPStatus.CONFLICT,
    errors.InvalidTransitionError: HTTPStatus.CONFLICT,
}


def error_response(status: HTTPStatus, code: str, message: str, details: Any = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body={"error": body})


def _public(error: dict[str, Any]) -> dict[str, Any]:
    # Never echo `input` (it can be large or sensitive) nor pydantic's internal `ctx`/`url`.
    return {"loc": list(error.get("loc", ())), "type": error.get("type"), "msg": error.get("msg")}


def register(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response:
        problems = [_public(e) for e in exc.errors()]
        if any(p["type"] == "json_invalid" for p in problems):
            return error_response(HTTPStatus.BAD_REQUEST, "invalid_json", "request body is not valid JSON")
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", "request failed validation", problems
        )

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(_exc: UnicodeDecodeError) -> Response:
        # A base64-encoded (isBase64Encoded) body that is not UTF-8 fails inside Powertools' body decoding,
        # before validation: the client's mistake, so 400 like any other unparseable body (never a 500).
        return error_response(HTTPStatus.BAD_REQUEST, "invalid_json", "request body is not valid UTF-8 JSON")

    @app.exception_handler(RequestUnsupportedContentType)
    def _content_type(_exc: RequestUnsupportedContentType) -> Response:
        # Powertools raises it for a body it does not read; json_body.JsonApiResolver makes that every body whose
        # media type is not application/json (form, multipart and undeclared ones included).
        return error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send application/json")

    @app.exception_handler(RouteNotFoundError)
    def _no_route(_exc: RouteNotFoundError) -> Response:
        return error_response(HTTPStatus.NOT_FOUND, "route_not_found", "no such route")

    @app.exception_handler(errors.DomainError)
    def _domain(exc: errors.DomainError) -> Response:
        status = STATUS_BY_ERROR.get(type(exc), HTTPStatus.BAD_REQUEST)
        return error_response(status, exc.code, exc.message, exc.details)

    @app.exception_handler(ResponseValidationError)
    def _bad_response(_exc: ResponseValidationError) -> Response:
        # Our own output failed its model: a server bug, never the client's fault (so not 422).
        logger.exception("response failed validation")
        metrics.add_metric(name="InternalErrors", unit="Count", value=1)
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "internal error")

    @app.exception_handler(Exception)
    def _unexpected(_exc: Exception) -> Response:
        logger.exception("unhandled error")
        metrics.add_metric(name="InternalErrors", unit="Count", value=1)
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "internal error")
