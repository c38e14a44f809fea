"""HTTP API (FastAPI): built by `create_app`, one router per resource."""
