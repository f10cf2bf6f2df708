"""``fhr openapi``: the stack's document, to stdout or a file, its server from the outputs."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from fhrcli.main import main


def test_fhr_openapi_writes_the_prod_document_with_the_outputs_server(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "api_url": "https://abc.execute-api.eu-west-1.amazonaws.com/",
                "ecg_bucket": "b",
                "results_table": "r",
                "items_table": "i",
                "functions": {},
                "region": "eu-west-1",
                "stage": "prod",
            }
        )
    )
    out = tmp_path / "openapi.json"
    assert main(["openapi", "--stack", "prod", "--outputs", str(outputs), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    validate(doc)
    assert doc["servers"] == [{"url": "https://abc.execute-api.eu-west-1.amazonaws.com"}]
    assert "jwt" in doc["components"]["securitySchemes"]


def test_fhr_openapi_of_the_dev_stack_declares_no_auth(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["openapi", "--stack", "dev"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "securitySchemes" not in doc["components"] and "servers" not in doc


def test_fhr_openapi_of_an_unknown_stack_says_so(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["openapi", "--stack", "staging"]) == 2
    assert "staging" in capsys.readouterr().err
