"""pynamodb tables and pydantic request/response schemas."""
