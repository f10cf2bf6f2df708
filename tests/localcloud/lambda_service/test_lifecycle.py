"""Environment lifecycle: idle environments are reclaimed, old ones retired, each on its own jittered clock.

Limits are configured short (fractions of a second) so the behaviour Lambda shows over minutes and hours
is observable here; the counter-checks run the same steps under the default (AWS-like) limits.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable

import pytest

from localcloud.lambda_service import FunctionSpec, LambdaService
from localcloud.lambda_service.lifecycle import DEFAULT_IDLE_S, DEFAULT_LIFETIME_S, Lifecycle, parse_range
from tests.localcloud.lambda_service.conftest import until

Ric = Callable[..., FunctionSpec]


async def echo_pid(service: LambdaService) -> tuple[int, bool]:
    result = await service.invoke("fx-echo", b"{}")
    return json.loads(result.payload)["pid"], result.cold_start


async def test_an_idle_environment_is_reclaimed_and_the_next_call_is_cold(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-echo", "basic.echo")], lifecycle=Lifecycle(idle_s=(0.4, 0.4)))
    pid, cold = await echo_pid(service)
    assert cold
    await until(lambda: service.pool.reclaimed_idle == 1)
    assert service.live_worker_pids() == []
    again, cold_again = await echo_pid(service)
    assert cold_again and again != pid


async def test_under_the_default_limits_the_same_pause_keeps_it_warm(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-echo", "basic.echo")])
    pid, _ = await echo_pid(service)
    await asyncio.sleep(0.8)  # twice the reclaim time of the test above
    assert await echo_pid(service) == (pid, False)
    assert service.pool.reclaimed_idle == 0


async def test_an_invocation_restarts_the_idle_countdown(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-echo", "basic.echo")], lifecycle=Lifecycle(idle_s=(0.6, 0.6)))
    pid, _ = await echo_pid(service)
    for _ in range(4):  # 4 x 0.3 s: twice the idle time in total, never 0.6 s idle in a row
        await asyncio.sleep(0.3)
        assert await echo_pid(service) == (pid, False)
    assert service.pool.reclaimed_idle == 0


async def test_an_environment_past_its_lifetime_is_retired_after_its_invocation(start_service, ric: Ric) -> None:
    lifecycle = Lifecycle(idle_s=(60, 60), lifetime_s=(0.3, 0.3))
    service = await start_service([ric("fx-nap", "basic.nap")], lifecycle=lifecycle)
    busy = await service.invoke("fx-nap", b'{"seconds": 0.5}')  # outlives its environment's lifetime
    first = json.loads(busy.payload)["pid"]
    await until(lambda: service.pool.retired_old == 1)
    following = await service.invoke("fx-nap", b'{"seconds": 0}')
    assert following.cold_start and json.loads(following.payload)["pid"] != first


async def test_an_idle_environment_is_retired_at_the_end_of_its_lifetime(start_service, ric: Ric) -> None:
    lifecycle = Lifecycle(idle_s=(60, 60), lifetime_s=(0.4, 0.4))
    service = await start_service([ric("fx-echo", "basic.echo")], lifecycle=lifecycle)
    await echo_pid(service)
    await until(lambda: service.pool.retired_old == 1)
    assert service.live_worker_pids() == [] and service.pool.reclaimed_idle == 0


def test_each_environment_draws_its_own_limits_in_the_aws_like_ranges() -> None:
    lifecycle = Lifecycle(rng=random.Random(7))
    idles = [lifecycle.draw_idle_s() for _ in range(200)]
    lifetimes = [lifecycle.draw_lifetime_s() for _ in range(200)]
    assert DEFAULT_IDLE_S == (300.0, 900.0)  # 5-15 min, as observed on Lambda
    assert all(DEFAULT_IDLE_S[0] <= s <= DEFAULT_IDLE_S[1] for s in idles)
    assert max(idles) - min(idles) > 300, "jittered, not one value for all"
    assert all(DEFAULT_LIFETIME_S[0] <= s <= DEFAULT_LIFETIME_S[1] for s in lifetimes)
    assert len(set(idles)) == len(idles)


def test_ranges_parse_from_the_command_line_and_bad_ones_are_refused() -> None:
    assert parse_range("600") == (600.0, 600.0)
    assert parse_range("300-900") == (300.0, 900.0)
    assert parse_range(" 2.5 - 3 ") == (2.5, 3.0)
    for bad in ("", "0", "9-3", "-1", "ten"):
        with pytest.raises(ValueError):
            parse_range(bad)
    with pytest.raises(ValueError):
        Lifecycle(idle_s=(5, 1))
