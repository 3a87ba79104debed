"""Data shapes, kept apart by where they live: `tables/` (pynamodb items, one module per table family), `api/`
(pydantic request and response bodies, one module per API) and `stream` (the vote record on Kinesis)."""
