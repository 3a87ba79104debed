"""pydantic request and response bodies of the HTTP APIs (powertools validates them and builds OpenAPI)."""
