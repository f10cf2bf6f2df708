"""What the FHR function opens at cold start: what every request needs, not what some requests need."""

from __future__ import annotations

import pytest

from handlers.api import clients, fhr


@pytest.mark.usefixtures("aws_env")
async def test_init_opens_s3_and_dynamodb_and_leaves_sqs_to_the_first_job() -> None:
    await fhr.init()
    assert set(clients._POOL._clients) == {"s3", "dynamodb"}
    sqs = await clients.client("sqs")  # a deferral or a batch opens it on demand, once
    assert await clients.client("sqs") is sqs
    assert sqs.meta.service_model.service_name == "sqs"
