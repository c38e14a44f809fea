"""One router per resource, each registered explicitly by `create_app`."""
