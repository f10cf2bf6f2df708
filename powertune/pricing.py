"""Lambda on-demand prices per GB-second and per request, by architecture and region.

Prices are public list prices (USD); regions not listed use the us-east-1 price and the report says
so. Billed duration is rounded up to the millisecond by Lambda; we price what the REPORT line bills.
"""

from __future__ import annotations

from dataclasses import dataclass

# USD per GB-second (first pricing tier) and per request.
GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PER_REQUEST = 0.20 / 1_000_000
# Regions billed at the base (us-east-1) price.
BASE_PRICE_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-central-1",
        "eu-north-1",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "ap-northeast-2",
    }
)
# Regions whose GB-second price differs from us-east-1 (multiplier on the base price).
REGION_FACTOR = {
    "ap-east-1": 1.3,
    "af-south-1": 1.3,
    "me-south-1": 1.2,
    "ap-northeast-3": 1.2,
    "eu-south-1": 1.17,
    "sa-east-1": 1.25,
    "il-central-1": 1.1,
}


@dataclass(frozen=True)
class Price:
    gb_second: float
    per_request: float
    region_known: bool


def price_for(architecture: str, region: str) -> Price:
    if architecture not in GB_SECOND:
        raise ValueError(f"unknown architecture {architecture!r}")
    factor = REGION_FACTOR.get(region, 1.0)
    known = region in BASE_PRICE_REGIONS or region in REGION_FACTOR
    return Price(GB_SECOND[architecture] * factor, PER_REQUEST, known)


def invocation_cost(price: Price, memory_mb: int, billed_ms: float) -> float:
    """Cost in USD of one invocation billed ``billed_ms`` at ``memory_mb``."""
    return price.gb_second * (memory_mb / 1024.0) * (billed_ms / 1000.0) + price.per_request
