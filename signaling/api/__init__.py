"""The HTTP API under /api/v1: the declaration framework, OpenAPI, one module per resource."""
