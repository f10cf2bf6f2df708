"""A handler module whose import outlasts any reasonable init phase."""

import time

time.sleep(60)


def handler(event, context):  # pragma: no cover - never reached
    return {}
