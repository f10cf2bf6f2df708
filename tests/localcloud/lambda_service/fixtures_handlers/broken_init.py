"""A handler module whose import fails, for the init-error paths."""

raise RuntimeError("cannot initialise: missing configuration")


def handler(event, context):  # pragma: no cover - never reached
    return {}
