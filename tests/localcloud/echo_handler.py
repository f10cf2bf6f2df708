"""A tiny Lambda handler for the front-door tests: it echoes its payload-2.0 event or returns set shapes.

It runs in real worker processes of the local Lambda service through our runtime, so the tests see
exactly what a deployed handler would receive and what API Gateway makes of what it returns.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

ENV_KEYS = (
    "ECG_BUCKET",
    "STAGE",
    "AWS_REGION",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "FHR_OPEN_TENANT",
    "FHR_TENANT_CLAIM",
)
BINARY = bytes(range(256))


def _shape(kind: str) -> Any:
    if kind == "raw":
        return {"hello": "world", "n": 1}  # no statusCode: API Gateway answers 200 with this JSON
    if kind == "binary":
        body = base64.b64encode(BINARY).decode()
        return {"statusCode": 200, "headers": {"content-type": "image/png"}, "body": body, "isBase64Encoded": True}
    if kind == "cookies":
        return {
            "statusCode": 201,
            "headers": {"x-single": "one", "access-control-allow-origin": "https://backend-says.example"},
            "multiValueHeaders": {"x-multi": ["a", "b"]},
            "cookies": ["session=abc; Path=/; HttpOnly", "theme=dark"],
            "body": "made",
        }
    if kind == "bad-status":
        return {"statusCode": "teapot", "body": "x"}
    if kind == "no-content-type":
        return {"statusCode": 200, "body": "plain"}
    if kind == "huge":  # over Lambda's 6 MB response limit
        return {"statusCode": 200, "body": "x" * (7 * 1024 * 1024)}
    raise ValueError(f"unknown shape {kind}")


def _presigned_post(request: dict[str, Any]) -> dict[str, Any]:
    """A presigned S3 POST for ``uploads/<key>`` of at most ``max_bytes``, like the web function's:
    SigV4 unless the request asks for ``"signature": "s3"`` (botocore's SigV2, which S3 refuses)."""
    import boto3
    from botocore.config import Config

    # endpoint and credentials from the function's environment
    s3 = boto3.client("s3", config=Config(signature_version=request.get("signature", "s3v4")))
    post = s3.generate_presigned_post(
        Bucket=os.environ["ECG_BUCKET"],
        Key=f"uploads/{request['key']}",
        Conditions=[["content-length-range", 1, request["max_bytes"]]],
        ExpiresIn=300,
    )
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(post)}


async def handler(event: dict[str, Any], context: Any) -> Any:
    path = event.get("rawPath", "")
    if path.startswith("/shape/"):
        return _shape(event["pathParameters"]["kind"])
    if path == "/boom":
        raise RuntimeError("boom on purpose")
    if path == "/slow":
        await asyncio.sleep(float(event["queryStringParameters"]["s"]))
        return {"statusCode": 200, "body": "slept"}
    if path == "/presign":
        return _presigned_post(json.loads(event["body"]))
    body = {"event": event, "env": {k: os.environ.get(k) for k in ENV_KEYS}}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def sqs_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An SQS consumer reporting partial batch failures: bodies starting with ``fail`` fail."""
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"].startswith("fail")]
    return {"batchItemFailures": failures}
