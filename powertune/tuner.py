"""The tuning loop, on boto3's Lambda client alone, so AWS and the local cloud share one code path.

Per memory size: set ``MemorySize`` on ``$LATEST`` (``UpdateFunctionConfiguration``), wait until the
update is live, publish a version and point the alias ``powertune-<MB>`` at it, then invoke that alias
``num`` times with ``LogType=Tail`` and read duration, billed duration and init duration from each
``REPORT`` line. Live traffic keeps using its own alias/version meanwhile. Whatever happens, the
original memory, timeout and environment are restored and the aliases and versions made here are
deleted. With ``only_cold_starts`` every invocation gets a fresh version (an environment nonce), as
AWS Lambda Power Tuning does, so each one is a cold start. ``environment`` adds variables to the tuned
versions only (e.g. ``RESULT_TTL_S=0`` so a caching function computes on every invocation).

Each answer's ``cached`` flag (the FHR API says whether it served a stored result) is counted per size
(``cache_hits``): a run in which every timed response was a cache hit timed a table read, not the work
being tuned, and the CLI says so. Cold starts are invocations whose REPORT line has an ``Init Duration``
or, for SnapStart functions, a ``Restore Duration``.

A function error aborts the tuning (after the restore), as in AWS Lambda Power Tuning, unless
``keep_going``: then that size is reported with its error (e.g. killed for memory at 128 MB) and
left out of the bests.
"""

from __future__ import annotations

import functools
import json
import statistics
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from powertune.pricing import Price, invocation_cost
from powertune.reportline import Report, parse_log_result

STRATEGIES = ("cost", "speed", "balanced")
ALIAS_PREFIX = "powertune-"


class TuningError(RuntimeError):
    """The function failed while being tuned; the message carries its error."""


class RestoreError(RuntimeError):
    """Some of the original configuration could not be put back; the message lists what is left over."""


@dataclass(frozen=True)
class TuneSpec:
    function_name: str
    memory_sizes: Sequence[int]
    num: int
    payload: bytes
    strategy: str = "balanced"
    balanced_weight: float = 0.5
    only_cold_starts: bool = False
    discard_top_bottom: float = 0.2
    environment: Mapping[str, str] = field(default_factory=dict)
    keep_going: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")
        if not 0.0 <= self.balanced_weight <= 1.0:
            raise ValueError("balanced weight must be between 0 (speed) and 1 (cost)")
        if not 0.0 <= self.discard_top_bottom < 0.5:
            raise ValueError("discard-top-bottom must be in [0, 0.5)")
        if self.num < 1:
            raise ValueError("num must be at least 1")
        bad = [m for m in self.memory_sizes if not 128 <= m <= 10240]
        if bad or not self.memory_sizes:
            raise ValueError(f"memory sizes must be 128..10240 MB, got {list(self.memory_sizes)}")


@dataclass
class SizeResult:
    memory_mb: int
    reports: list[Report] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0  # answers that said "cached": true
    duration_ms: float = 0.0
    billed_ms: float = 0.0
    cost_usd: float = 0.0
    error: str | None = None

    @property
    def cold_starts(self) -> int:
        return sum(1 for r in self.reports if r.cold_start)

    def as_dict(self) -> dict[str, Any]:
        failed = self.error is not None
        return {
            **({"error": self.error} if failed else {}),
            "memory_mb": self.memory_mb,
            "duration_ms": None if failed else round(self.duration_ms, 3),
            "billed_ms": None if failed else round(self.billed_ms, 3),
            "cost_usd": None if failed else self.cost_usd,
            "cold_starts": self.cold_starts,
            "invocations": len(self.reports),
            "http_statuses": dict(self.statuses),
            "cache_hits": self.cache_hits,
            "init_ms": [r.init_ms for r in self.reports if r.init_ms is not None],
            "restore_ms": [r.restore_ms for r in self.reports if r.restore_ms is not None],
            "max_memory_used_mb": max((r.max_memory_mb or 0) for r in self.reports) if self.reports else None,
        }


def trimmed_mean(values: Sequence[float], fraction: float) -> float:
    """Mean after dropping ``fraction`` of the samples at each end (Power Tuning's discardTopBottom)."""
    ordered = sorted(values)
    cut = int(len(ordered) * fraction)
    kept = ordered[cut : len(ordered) - cut] or ordered
    return statistics.fmean(kept)


class PowerTuner:
    """Tunes one function through a boto3 Lambda client the caller builds (AWS or local endpoint)."""

    def __init__(
        self, lambda_client: Any, spec: TuneSpec, price: Price, progress: Callable[[str], None] | None = None
    ) -> None:
        self.client = lambda_client
        self.spec = spec
        self.price = price
        self.progress = progress or (lambda _msg: None)
        self._versions: list[str] = []
        self._aliases: list[str] = []
        self._base_variables: dict[str, str] = {}

    def run(self) -> list[SizeResult]:
        original = self.client.get_function_configuration(FunctionName=self.spec.function_name)
        self._base_variables = dict(original.get("Environment", {}).get("Variables", {}))
        try:
            return [self._tune_or_record(memory) for memory in self.spec.memory_sizes]
        finally:
            self._restore(original)

    def _tune_or_record(self, memory: int) -> SizeResult:
        try:
            return self._tune_size(memory)
        except TuningError as exc:
            if not self.spec.keep_going:
                raise
            self.progress(f"{memory} MB failed: {exc}")
            return SizeResult(memory, error=str(exc))

    def _tune_size(self, memory: int) -> SizeResult:
        result = SizeResult(memory)
        alias = f"{ALIAS_PREFIX}{memory}"
        if not self.spec.only_cold_starts:
            self._deploy(memory, alias, nonce=None)
        for i in range(self.spec.num):
            if self.spec.only_cold_starts:
                self._deploy(memory, alias, nonce=uuid.uuid4().hex)
            report, (status, cached) = self._invoke(alias)
            result.reports.append(report)
            if status is not None:
                result.statuses[status] = result.statuses.get(status, 0) + 1
            result.cache_hits += cached is True
            self.progress(f"{memory} MB: {i + 1}/{self.spec.num}")
        durations = [r.duration_ms for r in result.reports]
        billed = [r.billed_ms for r in result.reports]
        result.duration_ms = trimmed_mean(durations, self.spec.discard_top_bottom)
        result.billed_ms = trimmed_mean(billed, self.spec.discard_top_bottom)
        result.cost_usd = invocation_cost(self.price, memory, result.billed_ms)
        return result

    def _deploy(self, memory: int, alias: str, nonce: str | None) -> None:
        """Point ``alias`` at a fresh version of the function configured with ``memory``."""
        update: dict[str, Any] = {"FunctionName": self.spec.function_name, "MemorySize": memory}
        if nonce is not None or self.spec.environment:
            variables = {**self._base_variables, **self.spec.environment}
            if nonce is not None:
                variables["POWERTUNE_NONCE"] = nonce
            update["Environment"] = {"Variables": variables}
        self.client.update_function_configuration(**update)
        self.client.get_waiter("function_updated_v2").wait(
            FunctionName=self.spec.function_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        version = self.client.publish_version(FunctionName=self.spec.function_name)["Version"]
        self._versions.append(version)
        if alias in self._aliases:
            self.client.update_alias(FunctionName=self.spec.function_name, Name=alias, FunctionVersion=version)
        else:
            self.client.create_alias(FunctionName=self.spec.function_name, Name=alias, FunctionVersion=version)
            self._aliases.append(alias)

    def _invoke(self, alias: str) -> tuple[Report, tuple[str | None, bool | None]]:
        """One invocation's REPORT, and its HTTP status and cache flag when the function answers API Gateway.

        A 4xx, a 202 or a cache hit is a successful invocation to Lambda but not the work being tuned, so
        they are kept and reported (``http_statuses``, ``cache_hits``) rather than hidden in the durations.
        """
        response = self.client.invoke(
            FunctionName=self.spec.function_name, Qualifier=alias, Payload=self.spec.payload, LogType="Tail"
        )
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise TuningError(f"{self.spec.function_name}:{alias} failed: {body[:500].decode('utf-8', 'replace')}")
        return parse_log_result(response["LogResult"]), proxy_answer(body)

    def _restore(self, original: dict[str, Any]) -> None:
        """Put memory, timeout and environment back and delete what tuning created, even after a failure.

        Every step is tried even when an earlier one fails; what could not be undone is raised at the end.
        """
        name = self.spec.function_name
        restore: dict[str, Any] = {
            "FunctionName": name,
            "MemorySize": original["MemorySize"],
            "Timeout": original["Timeout"],
            "Environment": {"Variables": dict(original.get("Environment", {}).get("Variables", {}))},
        }
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("configuration", functools.partial(self.client.update_function_configuration, **restore))
        ]
        steps += [
            (f"alias {a}", functools.partial(self.client.delete_alias, FunctionName=name, Name=a))
            for a in self._aliases
        ]
        steps += [
            (f"version {v}", functools.partial(self.client.delete_function, FunctionName=name, Qualifier=v))
            for v in self._versions
        ]
        left_over = []
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - keep restoring; report every failure together
                left_over.append(f"{what}: {exc}")
        self._aliases, self._versions = [], []
        if left_over:
            raise RestoreError(f"could not restore {name}: " + "; ".join(left_over))


def choose_best(results: Sequence[SizeResult], balanced_weight: float) -> dict[str, dict[str, Any]]:
    """The best size per strategy. Balanced minimises w·cost/max_cost + (1-w)·duration/max_duration."""
    results = [r for r in results if r.error is None]
    if not results:
        return {}
    max_cost = max(r.cost_usd for r in results) or 1.0
    max_duration = max(r.duration_ms for r in results) or 1.0

    def balanced(r: SizeResult) -> float:
        return balanced_weight * r.cost_usd / max_cost + (1 - balanced_weight) * r.duration_ms / max_duration

    picks = {
        "cost": min(results, key=lambda r: (r.cost_usd, r.duration_ms)),
        "speed": min(results, key=lambda r: (r.duration_ms, r.cost_usd)),
        "balanced": min(results, key=balanced),
    }
    return {
        name: {"memory_mb": r.memory_mb, "duration_ms": round(r.duration_ms, 3), "cost_usd": r.cost_usd}
        for name, r in picks.items()
    }


def build_report(
    spec: TuneSpec, results: Sequence[SizeResult], price: Price, region: str, architecture: str
) -> dict[str, Any]:
    best = choose_best(results, spec.balanced_weight)
    return {
        "function": spec.function_name,
        "strategy": spec.strategy,
        "recommended": best.get(spec.strategy),
        "best": best,
        "results": [r.as_dict() for r in results],
        "num": spec.num,
        "only_cold_starts": spec.only_cold_starts,
        "discard_top_bottom": spec.discard_top_bottom,
        "balanced_weight": spec.balanced_weight,
        "pricing": {
            "region": region,
            "architecture": architecture,
            "usd_per_gb_second": price.gb_second,
            "usd_per_request": price.per_request,
            "region_price_known": price.region_known,
        },
    }


def payload_json(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def proxy_answer(body: bytes) -> tuple[str | None, bool | None]:
    """``statusCode`` of an API Gateway proxy response and the ``cached`` flag of its JSON body (or None)."""
    answer = _json(body)
    if not isinstance(answer, dict) or not isinstance(answer.get("statusCode"), int):
        return None, None
    inner = answer.get("body")
    inner = _json(inner) if isinstance(inner, str | bytes) else inner
    cached = inner.get("cached") if isinstance(inner, dict) else None
    return str(answer["statusCode"]), cached if isinstance(cached, bool) else None


def _json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def all_cache_hits(report: Mapping[str, Any]) -> bool:
    """Whether every response timed (over every size that ran) was served from the function's cache."""
    rows = [row for row in report["results"] if "error" not in row and row["invocations"]]
    return bool(rows) and all(row["cache_hits"] == row["invocations"] for row in rows)
