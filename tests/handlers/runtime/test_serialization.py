"""The response encoder on its own: what handlers return, and what it refuses with a clear error."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from decimal import Decimal

import numpy as np
import pytest

from handlers.runtime.errors import MarshalError, ResponseSizeTooLarge, UnmarshalError
from handlers.runtime.serialization import MAX_RESPONSE_BYTES, decode_event, encode_response


def test_dynamodb_and_numpy_values_become_plain_json():
    body, content_type = encode_response(
        {
            "int": Decimal("10"),
            "exp": Decimal("1E+2"),
            "frac": Decimal("-0.125"),
            "at": dt.datetime(2026, 1, 2, 3, 4, 5),
            "id": uuid.UUID(int=1),
            "np_float": np.float32(0.5),
            "np_int": np.int64(7),
            "np_array": np.arange(3),
            "pair": (1, 2),
        }
    )
    assert content_type == "application/json"
    assert json.loads(body) == {
        "int": 10,
        "exp": 100,
        "frac": -0.125,
        "at": "2026-01-02T03:04:05",
        "id": "00000000-0000-0000-0000-000000000001",
        "np_float": 0.5,
        "np_int": 7,
        "np_array": [0, 1, 2],
        "pair": [1, 2],
    }


def test_bytes_as_the_whole_result_are_sent_raw_like_awslambdaric():
    assert encode_response(b"\x89PNG") == (b"\x89PNG", "application/octet-stream")


@pytest.mark.parametrize("bad", [float("nan"), Decimal("NaN"), Decimal("Infinity"), object()])
def test_values_json_cannot_carry_are_a_marshal_error(bad):
    with pytest.raises(MarshalError, match="Unable to marshal response"):
        encode_response({"value": bad})


def test_the_size_limit_counts_encoded_bytes():
    fits = "é" * ((MAX_RESPONSE_BYTES - 2) // 2)  # 2 bytes each in UTF-8, plus the quotes
    assert len(encode_response(fits)[0]) == MAX_RESPONSE_BYTES
    with pytest.raises(ResponseSizeTooLarge, match=r"Response payload size \(6291458 bytes\)"):
        encode_response(fits + "é")


def test_event_decoding():
    assert decode_event(b'{"a": [1]}', "application/json") == {"a": [1]}
    assert decode_event(b"raw", "application/octet-stream") == b"raw"
    with pytest.raises(UnmarshalError):
        decode_event(b"\xff\xfe", None)


def test_importing_the_runtime_does_not_import_aioboto3_or_botocore():
    code = (
        "import sys, handlers.runtime.bootstrap, handlers.runtime.logging; "
        "print(sorted(m for m in ('aioboto3', 'botocore', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
