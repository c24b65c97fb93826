"""Request bodies. Every string and list has limits; unknown fields are rejected (extra="forbid").

Integers are strict (``StrictInt``): JSON ``"100"``, ``true`` and ``5.0`` are 422s, not 100, 1 and 5, as the
OpenAPI document's ``type: integer`` says. Strictness is per field, not ``strict=True`` on the models: Powertools
validates the JSON-decoded dict in python mode, where a strict model would also refuse enum values (JSON strings).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from service.keys import OrderStatus

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Tags = Annotated[list[Tag], Field(max_length=20)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"),
]
Version = Annotated[StrictInt, Field(ge=1, le=2**53)]


class _Strict(BaseModel):
    # defer_build: validators are built on first use, so a cold start builds only its route's models.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class CreateItemRequest(_Strict):
    name: Name
    description: Description | None = None
    tags: Tags = Field(default_factory=list)
    ttl_seconds: Annotated[StrictInt | None, Field(ge=60, le=366 * 24 * 3600)] = Field(
        default=None, description="Optional lifetime; the item expires (TTL / scheduled purge) after it."
    )


class UpdateItemRequest(_Strict):
    name: Name | None = None
    description: Description | None = None
    tags: Tags | None = None
    version: Version = Field(description="The version the client read; a stale version gets 409.")

    @model_validator(mode="after")
    def _has_change(self) -> UpdateItemRequest:
        if self.name is None and self.description is None and self.tags is None:
            raise ValueError("at least one of name, description, tags is required")
        return self


class CreateUserRequest(_Strict):
    name: Name
    email: Email


class CreateOrderRequest(_Strict):
    amount: Annotated[StrictInt, Field(ge=1, le=10**12, description="Amount in the currency's minor unit.")]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "JPY"
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class UpdateOrderRequest(_Strict):
    status: OrderStatus
    version: Version
