"""REST API (Powertools ``APIGatewayRestResolver`` with validation; the OpenAPI document comes from here)."""
