"""The design card's boundaries, checked on the source so a slip fails CI rather than a deploy.

- ``handlers/`` is the Lambda bundle: it never imports pulumi, nor the operator-side packages.
- ``components/`` never reaches into handler internals.
- One app definition: no other module keeps its own list of routes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPERATOR_SIDE = ("pulumi", "pulumi_aws", "fhrapp", "components", "localcloud", "fhrcli", "bundler", "moto")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", python_files("handlers"), ids=lambda p: str(p.relative_to(ROOT)))
def test_handlers_never_import_operator_side(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] in OPERATOR_SIDE}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; handlers/ ships to Lambda alone"


@pytest.mark.parametrize("path", python_files("components"), ids=lambda p: str(p.relative_to(ROOT)))
def test_components_do_not_import_handlers(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] == "handlers"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; components read the app definition only"


def test_layout_of_the_design_card_exists() -> None:
    for name in ("__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "README.md", "pyproject.toml"):
        assert (ROOT / name).is_file(), name
    for name in ("components", "handlers", "tests", "fhrapp", "localcloud", "fhrcli", "bundler"):
        assert (ROOT / name).is_dir(), name


def test_handler_import_is_cheap_of_operator_modules() -> None:
    """Importing a handler package must not drag pulumi in (it would not exist in the bundle)."""
    import subprocess
    import sys

    code = "import sys, handlers; assert 'pulumi' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
