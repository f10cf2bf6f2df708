"""A handler module that cannot be imported: it needs a package the bundle lacks."""

from typing import Any

import fhr_package_that_is_not_installed  # noqa: F401


def handler(event: Any, context: Any) -> str:
    return "never served"
