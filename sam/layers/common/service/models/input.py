"""Request bodies. Every string and list has limits; unknown fields are rejected (extra="forbid").

Integers are JSON Schema integers (``json_int``): JSON ``"100"``, ``true`` and ``5.5`` are 422s, while ``5.0`` is 5,
because JSON Schema's ``type: integer`` (what the OpenAPI document says) is any number with a zero fractional part.
Strictness is per field, not ``strict=True`` on the models: Powertools validates the JSON-decoded dict in python
mode, where a strict model would also refuse enum values (JSON strings).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from service.keys import OrderStatus

# Unicode White_Space: what strip_whitespace removes (Rust's trim) and what \s means to Pydantic's regex engine. It is
# spelled out because \s differs between the engines that read these patterns (JSON Schema's ECMA \s has \ufeff and
# lacks \x85; Python's has \x1c-\x1f), so a pattern using it would let the document allow what the API refuses.
WHITE_SPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Some character that strip_whitespace keeps: minLength alone would let "\n" through to a 422.
NOT_BLANK = f"[^{WHITE_SPACE}]"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=NOT_BLANK)]
Tags = Annotated[list[Tag], Field(max_length=20)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=254, pattern=rf"^[^@{WHITE_SPACE}]{{1,64}}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
    ),
]


def _integral_float_to_int(value: Any) -> Any:
    # json.loads gives 5.0 as a float; StrictInt would refuse it. Only floats with a zero fractional part become
    # ints (5.5, inf and nan stay floats and StrictInt refuses them); bool and str are left to StrictInt. Every bound
    # below is <= 2**53, where a float holds each integer exactly, so no accepted value is a rounded larger one.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def json_int(ge: int, le: int) -> Any:
    """A JSON Schema integer in [ge, le]. The bounds sit inside the before-validator so that the document still says
    minimum/maximum (outside it, Pydantic can only emit its own non-standard ge/le keys)."""
    return Annotated[Annotated[StrictInt, Field(ge=ge, le=le)], BeforeValidator(_integral_float_to_int)]


Version = Annotated[json_int(1, 2**53), Field(description="The version the client read; a stale version gets 409.")]


class _Strict(BaseModel):
    # defer_build: validators are built on first use, so a cold start builds only its route's models.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class CreateItemRequest(_Strict):
    name: Name
    description: Description | None = None
    tags: Tags = Field(default_factory=list)
    ttl_seconds: json_int(60, 366 * 24 * 3600) | None = Field(
        default=None, description="Optional lifetime; the item expires (TTL / scheduled purge) after it."
    )


# The fields an item update may change, with their JSON type: a null one is no change.
ITEM_CHANGES = {"name": "string", "description": "string", "tags": "array"}


class UpdateItemRequest(_Strict):
    # The document says what _has_change enforces (at least one change, not null), so a client or a fuzzer
    # reading it never sends a body the API refuses; the rule itself stays here, in one place.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [field], "properties": {field: {"type": kind}}} for field, kind in ITEM_CHANGES.items()
            ]
        }
    )

    name: Name | None = None
    description: Description | None = None
    tags: Tags | None = None
    version: Version

    @model_validator(mode="after")
    def _has_change(self) -> UpdateItemRequest:
        if all(getattr(self, field) is None for field in ITEM_CHANGES):
            raise ValueError(f"at least one of {', '.join(ITEM_CHANGES)} is required")
        return self


class CreateUserRequest(_Strict):
    name: Name
    email: Email


class CreateOrderRequest(_Strict):
    amount: Annotated[json_int(1, 10**12), Field(description="Amount in the currency's minor unit.")]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "JPY"
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class UpdateOrderRequest(_Strict):
    status: OrderStatus
    version: Version
