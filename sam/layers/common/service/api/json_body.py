"""Request bodies are JSON only: the media type is compared as RFC 9110 says, and Powertools reads no other.

Powertools 3.37 picks a body reader by Content-Type with a case-sensitive ``startswith``: ``Application/JSON`` is
refused (415), ``application/jsonx`` and a body without Content-Type are read as JSON, and form and multipart
bodies are parsed into the route's model and reach the handler (its multipart reader even raises a bare
``ValueError``, a 500, for a missing boundary). Its request validation runs before any middleware, so a
middleware sees such a body only if it happened to fit the model, and cannot rescue ``Application/JSON``.

So ``JsonApiResolver.resolve`` settles the media type before Powertools looks at it, for a request with a body:

* a JSON media type in any case, with or without parameters, reaches Powertools as lowercase
  ``application/json`` (``Application/JSON; charset=UTF-8`` -> ``application/json; charset=UTF-8``);
* anything else (form, multipart, ``text/plain``, ``application/jsonx``, no Content-Type at all) reaches it as
  ``NOT_JSON``, a type none of its readers takes: a route that declares a body raises Powertools' own
  ``RequestUnsupportedContentType``, which errors.py maps to the documented 415 ``unsupported_media_type``.

A route without a body model never reads the body, so it is unaffected (as are 404s); a request without a body
is passed through untouched. A body without Content-Type is refused rather than guessed: every JSON client sends
one (``curl -d`` sends a form type, not none). The event is copied, never mutated (it is the caller's dict).
Cost: one dict lookup without a body, well under a microsecond with one; no regex, no copy unless rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

JSON = "application/json"
NOT_JSON = "application/x-not-json"  # what Powertools is told about a body it must not read
_HEADER = "content-type"


def content_type(headers: Mapping[str, Any]) -> Any:
    """The Content-Type header's value (header names are case-insensitive), or None."""
    for name in (_HEADER, "Content-Type"):  # what HTTP/2 and HTTP/1.1 clients send: no loop in the usual case
        if name in headers:
            return headers[name]
    for name, value in headers.items():
        if name.lower() == _HEADER:
            return value
    return None


def is_json(value: str | None) -> bool:
    """True when the media type (case-insensitive, parameters and whitespace ignored) is application/json."""
    return value is not None and value.split(";", 1)[0].strip().lower() == JSON


def _set_content_type(headers: Mapping[str, Any], value: Any) -> dict[str, Any]:
    return {**{name: v for name, v in headers.items() if name.lower() != _HEADER}, _HEADER: value}


def json_only(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event as Powertools should see it: a body's Content-Type is lowercase application/json or NOT_JSON."""
    if not event.get("body"):
        return event
    headers = event.get("headers") or {}
    value = content_type(headers)
    if is_json(value):
        if value.lstrip().startswith(JSON):  # the usual case: Powertools reads it as it is
            return event
        _, separator, parameters = value.partition(";")
        value = JSON + separator + parameters
    else:
        value = NOT_JSON
    rewritten = {**event, "headers": _set_content_type(headers, value)}
    if event.get("multiValueHeaders"):
        rewritten["multiValueHeaders"] = _set_content_type(event["multiValueHeaders"], [value])
    return rewritten


class JsonApiResolver(APIGatewayRestResolver):
    """``APIGatewayRestResolver`` that reads request bodies as JSON only (see the module docstring)."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        return super().resolve(json_only(event), context)
