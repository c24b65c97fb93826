"""Users: ``USER#<uuid>`` / ``PROFILE``."""

from __future__ import annotations

from service import keys
from service.dal.dynamodb import is_live
from service.dal.interface import EntityStore
from service.errors import NotFoundError
from service.keys import EntityType
from service.models.input import CreateUserRequest
from service.models.output import UserOut


def create_user(store: EntityStore, request: CreateUserRequest, now: int) -> UserOut:
    user_id = keys.new_uuid()
    row = {
        **keys.user_key(user_id),
        keys.ENTITY_TYPE: EntityType.USER.value,
        "UserId": user_id,
        "Name": request.name,
        "Email": request.email,
        keys.CREATED_AT: now,
        "UpdatedAt": now,
        keys.VERSION: 1,
    }
    store.put_new(row)
    return UserOut.model_validate(row)


def get_user(store: EntityStore, user_id: str, now: int) -> UserOut:
    row = store.get(keys.user_key(user_id))
    if not is_live(row, now):
        raise NotFoundError("user not found")
    return UserOut.model_validate(row)
