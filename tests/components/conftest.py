"""A real (small) bundle for component tests: the repo's handlers and an empty dependency layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundler.build import BundleSources, build_bundle
from bundler.manifest import Manifest


@pytest.fixture(scope="session")
def small_manifest(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Manifest:
    work = tmp_path_factory.mktemp("component-bundle")
    requirements = work / "requirements.txt"
    requirements.write_text("")
    sources = BundleSources(handlers=repo_root / "handlers", requirements=requirements, cache=work / "cache")
    return build_bundle(work / "lambda", sources)
