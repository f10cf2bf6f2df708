"""Loading the typed stack config from Pulumi's own configuration, once per program run.

``pulumi up`` hands the stack file's values to the program as config (structured values as JSON
strings). The keys the project knows are read with ``pulumi.Config("fhr").get``; the complete set of
``fhr:`` keys is also listed so an unknown (misspelt) key is rejected rather than silently ignored.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from fhrapp.config import PROJECT, TOP_LEVEL_KEYS, StackConfig, parse_stack_config


def configured_keys() -> set[str]:
    """Every ``fhr:`` key the engine passed, whether or not the project knows it."""
    keys = set(get_config_env()) | set(CONFIG.get())
    return {key.split(":", 1)[1] for key in keys if key.startswith(f"{PROJECT}:")}


def load_stack_config() -> StackConfig:
    """The stack's validated config; raises :class:`fhrapp.config.ConfigError` naming key and stack file."""
    stage = pulumi.get_stack()
    config = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {key: config.get(key) for key in TOP_LEVEL_KEYS}
    raw = {key: value for key, value in raw.items() if value is not None}
    for key in configured_keys() - set(TOP_LEVEL_KEYS):
        raw[key] = pulumi.runtime.get_config(f"{PROJECT}:{key}")
    region = pulumi.Config("aws").get("region")
    return parse_stack_config(stage, raw, region, f"Pulumi.{stage}.yaml")
