"""Pydantic request and response models (the API contract; OpenAPI is generated from them)."""
