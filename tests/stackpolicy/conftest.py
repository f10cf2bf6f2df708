"""Both stacks' resource graphs (the real program and stack files, a real code bundle), once per session,
and a way to break a copy of one."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bundler.build import BundleSources, build_bundle
from components.testing import Graph, Registered, run_program, stack_file_config

STAGES = ("dev", "prod")


@pytest.fixture(scope="session")
def stack_graphs(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> dict[str, Graph]:
    work = tmp_path_factory.mktemp("stackpolicy-bundle")
    requirements = work / "requirements.txt"
    requirements.write_text("# the full layer is built by `make bundle`\n")
    sources = BundleSources(handlers=repo_root / "handlers", requirements=requirements, cache=work / "cache")
    build_bundle(work / "lambda", sources)
    return {
        stage: run_program(
            repo_root / "__main__.py",
            stack=stage,
            config=stack_file_config(repo_root / f"Pulumi.{stage}.yaml"),
            bundle_dir=work / "lambda",
        )
        for stage in STAGES
    }


def broken(graph: Graph, breakage: Callable[[Graph], Any]) -> Graph:
    """A deep copy of ``graph`` with ``breakage`` applied; the original stays intact for other tests."""
    copied = Graph([copy.deepcopy(r) for r in graph.resources], copy.deepcopy(graph.outputs))
    copied.by_id = {r.id: r for r in copied.resources}
    breakage(copied)
    return copied


def first(graph: Graph, typ: str, where: Callable[[Registered], bool] = lambda r: True) -> Registered:
    found = [r for r in graph.of_type(typ) if where(r)]
    assert found, f"the graph has no {typ} to break"
    return found[0]


def edit_json(resource: Registered, key: str, change: Callable[[Any], Any]) -> None:
    """Change the JSON document an input carries (a policy, a payload) in place."""
    document = json.loads(resource.inputs[key])
    change(document)
    resource.inputs[key] = json.dumps(document)
