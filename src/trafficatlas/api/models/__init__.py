"""Response and request models of the HTTP API (field descriptions feed the OpenAPI docs)."""
