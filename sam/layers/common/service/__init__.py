"""Shared domain code of the app layer (packaged as the CommonLayer).

Layout (one concern per module):
- ``env``: settings parsed once from environment variables.
- ``keys``: the only place that builds single-table keys and validates ids.
- ``models``: Pydantic request/response models with limits.
- ``logic``: business rules; no AWS types.
- ``dal``: DynamoDB access behind small interfaces; boto3 created lazily.
- ``api``: the Powertools REST resolver and its routes.
"""
