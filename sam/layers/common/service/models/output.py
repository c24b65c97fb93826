"""Response bodies. Field names follow the seed article's documented shape (``ItemId``, ``Name``...)."""

from __future__ import annotations

from pydantic import BaseModel as _PydanticModel
from pydantic import ConfigDict, Field

from service.keys import OrderStatus


class BaseModel(_PydanticModel):
    # Validators are built when a model is first used, not at import: a cold start builds only the models of
    # the route it serves (cold-start time; see docs/benchmarks.md). Validation itself is unchanged.
    model_config = ConfigDict(defer_build=True)


class ItemOut(BaseModel):
    ItemId: str
    Name: str
    Description: str | None = None
    Tags: list[str] = Field(default_factory=list)
    EntityType: str = "Item"
    CreatedAt: int
    UpdatedAt: int
    ExpiresAt: int | None = None
    version: int


class UserOut(BaseModel):
    UserId: str
    Name: str
    Email: str
    EntityType: str = "User"
    CreatedAt: int
    UpdatedAt: int
    version: int


class OrderOut(BaseModel):
    OrderId: str
    UserId: str
    Amount: int
    Currency: str
    Note: str | None = None
    Status: OrderStatus
    EntityType: str = "Order"
    CreatedAt: int
    UpdatedAt: int
    version: int


class ItemEnvelope(BaseModel):
    message: str
    item: ItemOut


class ItemPage(BaseModel):
    items: list[ItemOut]
    count: int
    next_token: str | None = None


class UserEnvelope(BaseModel):
    message: str
    user: UserOut


class OrderEnvelope(BaseModel):
    message: str
    order: OrderOut


class OrderPage(BaseModel):
    orders: list[OrderOut]
    count: int
    next_token: str | None = None


class EntityStats(BaseModel):
    count: int
    by_status: dict[str, int] | None = None
    updated_at: int | None = None


class StatsOut(BaseModel):
    stats: dict[str, EntityStats]


class HealthOut(BaseModel):
    status: str
    environment: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict] | dict | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
