"""``make mutants``: cosmic-ray over each configured module with its own fast test selection, and a kill table.

Why a driver: cosmic-ray takes one module and one test command per session; each module here needs its own
selection (seconds per mutant, two shared cores), a reduced operator set (one natural alternative per operator,
as a reviewer would plant it, rather than cosmic-ray's every-operator-to-every-operator product), an optional
scope (the functions of a large module that carry the behaviour), and the survivors judged equivalent, kept with
their reasons in ``mutation/equivalent.toml``.

cosmic-ray mutates the file **in place** and restores it, so by default the driver first copies the checkout
(``.mutants/src/run-<pid>/<name>``, with ``../shared`` linked beside it) and mutates the copy: the working tree
stays usable while a long run goes on, and sessions of different modules can run side by side. The test command
runs with ``PYTHONPATH`` set to the mutated checkout, which comes before the venv's editable install (a finder
appended to ``sys.meta_path``), so the tests and every process they start (the local Lambda service's runtime
workers inherit the variable) load the mutated file; :func:`check_import_path` proves it, from the checkout and
from another folder, before a session starts.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "mutation" / "modules.toml"
EQUIVALENT = ROOT / "mutation" / "equivalent.toml"
#: Sessions and reports; a run in a copy (the default) keeps them in the original checkout's folder.
WORK = Path(os.environ.get("MUTATION_WORK", ROOT / ".mutants"))

#: What a reviewer plants: each operator's natural alternative (boundary, negation, sign, swap), every constant
#: moved, conditions negated, loops skipped, handlers bypassed. cosmic-ray's other pairs (``+`` to ``<<``,
#: ``<`` to ``is``) multiply the run time without finding other gaps.
KEPT_OPERATORS = (
    r"core/ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Mod_FloorDiv|Pow_Mul|BitOr_BitAnd"
    r"|BitAnd_BitOr|BitXor_BitOr|LShift_RShift|RShift_LShift)$",
    r"core/ReplaceComparisonOperator_(Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Is_IsNot|IsNot_Is|In_NotIn"
    r"|NotIn_In)$",
    r"core/ReplaceUnaryOperator_(USub_UAdd|Delete_Not)$",
    r"core/(AddNot|ReplaceTrueWithFalse|ReplaceFalseWithTrue|ReplaceAndWithOr|ReplaceOrWithAnd|NumberReplacer"
    r"|ReplaceBreakWithContinue|ReplaceContinueWithBreak|ZeroIterationForLoop|ExceptionReplacer|RemoveDecorator)$",
)


@dataclass(frozen=True)
class Module:
    """One mutation session: a file, the tests that guard it, and optionally the definitions to mutate."""

    name: str
    path: str
    tests: tuple[str, ...]
    scope: tuple[str, ...] = ()
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Equivalent:
    """A survivor judged equivalent: matched on module, operator, the mutated source line's text and, where the line
    holds several sites of that operator, the column of the mutated node and, where one site has several mutants
    (a number moved up or down), the mutated line's text (``mutant``)."""

    module: str
    operator: str
    line: str
    reason: str
    col: int | None = None
    mutant: str | None = None

    def matches(self, operator: str, text: str, col: int, diff: str) -> bool:
        return (
            self.operator == operator
            and self.line == text
            and self.col in (None, col)
            and (self.mutant is None or self.mutant in _added_lines(diff))
        )


def _added_lines(diff: str) -> list[str]:
    """The mutated lines of a mutant's unified diff without whitespace (cosmic-ray may add a space after a bracket)."""
    return [
        "".join(line[1:].split()) for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")
    ]


@dataclass
class Tally:
    killed: int = 0
    survived: int = 0
    equivalent: int = 0
    timeout: int = 0
    incompetent: int = 0
    skipped: int = 0
    pending: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def non_equivalent(self) -> int:
        return self.killed + self.timeout + self.survived

    @property
    def score(self) -> float | None:
        """Killed (timeouts count as killed, as cosmic-ray counts them) over non-equivalent mutants."""
        return 100.0 * (self.killed + self.timeout) / self.non_equivalent if self.non_equivalent else None


def load_modules(path: Path = CONFIG) -> list[Module]:
    data = tomllib.loads(path.read_text())
    default_timeout = float(data.get("defaults", {}).get("timeout_s", 60.0))
    return [
        Module(
            name=name,
            path=spec["path"],
            tests=tuple(spec["tests"]),
            scope=tuple(spec.get("scope", ())),
            timeout_s=float(spec.get("timeout_s", default_timeout)),
        )
        for name, spec in data["modules"].items()
    ]


def load_equivalents(path: Path = EQUIVALENT) -> list[Equivalent]:
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    return [
        Equivalent(
            e["module"],
            e["operator"],
            e["line"].strip(),
            e["reason"],
            e.get("col"),
            "".join(e["mutant"].split()) if "mutant" in e else None,
        )
        for e in data.get("equivalent", [])
    ]


def scope_lines(source: str, scope: Sequence[str]) -> set[int] | None:
    """The line numbers of the named definitions (``name`` or ``Class.method``); None means the whole file."""
    if not scope:
        return None
    wanted = set(scope)
    lines: set[int] = set()

    def visit(nodes: Iterable[ast.stmt], prefix: str) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                qualified = f"{prefix}{node.name}"
                if qualified in wanted:
                    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    lines.update(range(start, (node.end_lineno or node.lineno) + 1))
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{qualified}.")

    visit(ast.parse(source).body, "")
    missing = wanted - _defined_names(source)
    if missing:
        raise SystemExit(f"scope names not defined in the module: {sorted(missing)}")
    return lines


def _defined_names(source: str) -> set[str]:
    names: set[str] = set()

    def visit(nodes: Iterable[ast.stmt], prefix: str) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(f"{prefix}{node.name}")
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{prefix}{node.name}.")

    visit(ast.parse(source).body, "")
    return names


def test_command(module: Module) -> str:
    pytest = [sys.executable, "-m", "pytest", "-q", "-x", "--no-header", "-p", "no:randomly", *module.tests]
    return shlex.join(pytest)


def test_env() -> dict[str, str]:
    """The checkout first on the path of the tests and of every process they start."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def check_import_path(module: Module) -> None:
    """Refuse to run if the tests, or a subprocess they start, would import another copy of the module."""
    dotted = module.path.removesuffix(".py").replace("/", ".")
    code = f"import importlib, pathlib; print(pathlib.Path(importlib.import_module({dotted!r}).__file__).resolve())"
    env = test_env()
    for cwd in (ROOT, Path("/")):  # worker subprocesses run in their task root, not here
        found = subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        if Path(found) != (ROOT / module.path).resolve():
            raise SystemExit(f"{module.path} imports from {found} (cwd {cwd}); mutants would not be tested")


def write_config(module: Module, work: Path) -> Path:
    config = work / "config.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module.path}"\n'
        f"timeout = {module.timeout_s}\n"
        "excluded-modules = []\n"
        f"test-command = {_toml_string(test_command(module))}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{_toml_string('(?!' + '|'.join(f'(?:{k})' for k in KEPT_OPERATORS) + ')')}]\n"
    )
    return config


def _toml_string(text: str) -> str:
    return "'" + text + "'" if "'" not in text else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cosmic(*args: str | Path) -> None:
    exe = Path(sys.executable).parent
    first, *rest = args
    subprocess.run([str(exe / str(first)), *map(str, rest)], cwd=ROOT, env=test_env(), check=True)


def mark_out_of_scope(db: Path, lines: set[int]) -> int:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    skipped = 0
    with use_db(str(db), WorkDB.Mode.open) as work_db:
        for item in list(work_db.pending_work_items):
            if any(m.start_pos[0] not in lines for m in item.mutations):
                work_db.set_result(item.job_id, WorkResult(output="Out of scope", worker_outcome=WorkerOutcome.SKIPPED))
                skipped += 1
    return skipped


def source_digest(module: Module) -> str:
    """What a session mutated: the module's text and its scope (a rerun is only valid over the same mutants)."""
    text = (ROOT / module.path).read_bytes() + "\0".join(module.scope).encode()
    return hashlib.sha256(text).hexdigest()


def reopen_survivors(db: Path) -> int:
    """Mark a session's survivors pending again (killed stay killed: a rerun only ever adds tests)."""
    with sqlite3.connect(db) as connection:  # cosmic-ray's WorkDB has no way to clear one result
        cursor = connection.execute(
            "DELETE FROM work_results WHERE worker_outcome = 'NORMAL' AND test_outcome = 'SURVIVED'"
        )
        return cursor.rowcount


def run_module(module: Module, *, survivors_only: bool = False) -> None:
    """One session, from scratch: init, filters, a baseline run, then every mutant.

    ``survivors_only``: rerun only the last session's survivors with today's selection (after adding tests for
    them); refused unless the module's source and scope are those the session mutated."""
    work = WORK / module.name
    db = work / "session.sqlite"
    digest_file = work / "source.sha256"
    if survivors_only:
        if not digest_file.exists() or digest_file.read_text().strip() != source_digest(module):
            raise SystemExit(f"{module.name}: the source or scope changed since the last session; run it whole")
    else:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    target = ROOT / module.path
    original = target.read_bytes()
    check_import_path(module)
    config = write_config(module, work)
    started = time.monotonic()
    baseline = subprocess.run(shlex.split(test_command(module)), cwd=ROOT, env=test_env(), capture_output=True)
    if baseline.returncode != 0:
        sys.stdout.buffer.write(baseline.stdout[-4000:])
        raise SystemExit(f"{module.name}: the test selection fails on the unmutated code")
    print(f"{module.name}: baseline {time.monotonic() - started:.1f} s", flush=True)
    try:
        if survivors_only:
            print(f"{module.name}: {reopen_survivors(db)} survivors to rerun", flush=True)
        else:
            cosmic("cosmic-ray", "init", config, db, "--force")
            cosmic("cr-filter-operators", db, config)
            lines = scope_lines(original.decode(), module.scope)
            if lines is not None:
                mark_out_of_scope(db, lines)
            digest_file.write_text(source_digest(module) + "\n")
        cosmic("cosmic-ray", "exec", config, db)
    finally:
        if target.read_bytes() != original:
            target.write_bytes(original)
            print(f"{module.path} restored after an interrupted session", file=sys.stderr)


def tally(module: Module, equivalents: Sequence[Equivalent]) -> Tally:
    """Read a session's results; survivors matching ``equivalent.toml`` are counted apart."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    db = WORK / module.name / "session.sqlite"
    result = Tally()
    if not db.exists():
        return result
    source = (ROOT / module.path).read_text().splitlines()
    mine = [e for e in equivalents if e.module == module.name]
    with use_db(str(db), WorkDB.Mode.open) as work_db:
        done = dict(work_db.results)
        for item in work_db.work_items:
            outcome = done.get(item.job_id)
            if outcome is None:
                result.pending += 1
                continue
            if outcome.worker_outcome == WorkerOutcome.SKIPPED:
                result.skipped += 1
                continue
            if outcome.test_outcome == TestOutcome.INCOMPETENT or outcome.worker_outcome != WorkerOutcome.NORMAL:
                result.incompetent += 1
            elif outcome.test_outcome == TestOutcome.KILLED:
                if outcome.output == "timeout":
                    result.timeout += 1
                else:
                    result.killed += 1
            else:
                mutation = item.mutations[0]
                line_no = mutation.start_pos[0]
                text = source[line_no - 1].strip() if line_no <= len(source) else ""
                if any(
                    e.matches(mutation.operator_name, text, mutation.start_pos[1], outcome.diff or "") for e in mine
                ):
                    result.equivalent += 1
                else:
                    result.survived += 1
                    result.survivors.append(f"{module.path}:{line_no} {mutation.operator_name}\n{outcome.diff or ''}")
    return result


def print_table(rows: Sequence[tuple[Module, Tally]]) -> None:
    columns = ("killed", "survived", "equiv", "timeout", "incomp", "pending")
    header = f"{'module':<22} " + " ".join(f"{c:>{max(6, len(c))}}" for c in columns) + "  score"
    print(header)
    print("-" * len(header))
    total = Tally()
    for module, t in rows:
        score = f"{t.score:5.1f} %" if t.score is not None else "    -"
        print(
            f"{module.name:<22} {t.killed:>6} {t.survived:>8} {t.equivalent:>6} {t.timeout:>7} {t.incompetent:>6}"
            f" {t.pending:>7}  {score}"
        )
        for name in ("killed", "survived", "equivalent", "timeout", "incompetent", "pending"):
            setattr(total, name, getattr(total, name) + getattr(t, name))
    score = f"{total.score:5.1f} %" if total.score is not None else "    -"
    print("-" * len(header))
    print(
        f"{'total':<22} {total.killed:>6} {total.survived:>8} {total.equivalent:>6} {total.timeout:>7}"
        f" {total.incompetent:>6} {total.pending:>7}  {score}"
    )


def run_in_copy(argv: list[str]) -> int:
    """Copy the checkout (sources, tests, built parser, vendored assets) and run there with ``--in-place``.

    One copy per run (``.mutants/src/run-<pid>``, removed after), so sessions of different modules can run side
    by side."""
    base = WORK / "src" / f"run-{os.getpid()}"
    copy = base / ROOT.name
    shutil.rmtree(base, ignore_errors=True)
    skip = shutil.ignore_patterns("venv", ".git", ".mutants", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache")
    shutil.copytree(ROOT, copy, ignore=skip, symlinks=True)
    if (ROOT.parent / "shared").exists():
        (base / "shared").symlink_to(ROOT.parent / "shared")
    env = {**os.environ, "MUTATION_WORK": str(WORK), "PYTHONPATH": str(copy)}
    command = [sys.executable, "-m", "mutation.run", "--in-place", *argv]
    try:
        return subprocess.run(command, cwd=copy, env=env).returncode
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="module names from mutation/modules.toml (default: all)")
    parser.add_argument("--report", action="store_true", help="print the table of the last sessions, run nothing")
    parser.add_argument("--survivors", action="store_true", help="also print each surviving mutant's diff")
    parser.add_argument("--in-place", action="store_true", help="mutate this checkout itself (no copy)")
    parser.add_argument(
        "--survivors-only", action="store_true", help="rerun only the last session's survivors (same source)"
    )
    args = parser.parse_args(argv)
    if not args.report and not args.in_place:
        return run_in_copy(list(argv if argv is not None else sys.argv[1:]))
    modules = load_modules()
    names = {m.name for m in modules}
    unknown = set(args.modules) - names
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}; configured: {sorted(names)}")
    chosen = [m for m in modules if not args.modules or m.name in args.modules]
    if not args.report:
        for module in chosen:
            run_module(module, survivors_only=args.survivors_only)
    equivalents = load_equivalents()
    rows = [(m, tally(m, equivalents)) for m in chosen]
    print_table(rows)
    for module, t in rows:
        (WORK / module.name).mkdir(parents=True, exist_ok=True)
        (WORK / module.name / "survivors.txt").write_text("\n".join(t.survivors))
        if args.survivors and t.survivors:
            print(f"\n== {module.name}: {len(t.survivors)} survivors")
            print("\n".join(t.survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
