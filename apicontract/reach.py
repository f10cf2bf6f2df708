"""Which error codes each route's handler can raise, read from the handlers' source (``ast``), not from a list.

The document declares per route the codes its handler raises (``CONTRACT`` of the handler module); this
module finds, independently, every ``(status, code)`` a route can answer with, by walking the calls from the
route's entry points through ``handlers/api`` and ``handlers/web``:

- **raise sites**: every construction of an :class:`~handlers.api.http.ApiError` subclass (raised, returned or
  kept for later alike), with its ``code=`` literal or, without one, its class's code;
- **codes passed down**: ``code=code`` where ``code`` is a parameter (``query_int(..., code="invalid_page")``)
  takes the literal of each call site (through any number of calls), or the parameter's default;
- **declared mappings**: a function marked ``@raises(...)`` (``api_error_for``, which maps science and storage
  errors by their class) raises what it declares;
- **calls**: names resolved through each module's imports (also those inside functions), ``self.``/``cls.``
  methods of the enclosing class and its bases, ``Class.method``, properties read as attributes, functions
  and tables referenced as values (a dispatch table counts as calling everything in it), decorators, and
  ``obj.method(...)`` on an object of unknown type as every scanned method of that name (an over-estimate:
  a code it adds that a route cannot raise shows up as one the declaration lacks, and is then declared).

Entry points of a route: the module's ``handler`` (its dispatch table ``ROUTES`` is not followed from there)
and ``ROUTES[route key]`` when the module dispatches through one. Codes a function answers only to what API
Gateway never sends (``contract.NOT_OVER_HTTP``) are reported separately.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HANDLERS = Path(__file__).resolve().parent.parent / "handlers"
SCANNED = ("api", "web")  # the packages whose code answers HTTP; science and storage raise no ApiError


@dataclass(frozen=True)
class Raised:
    """One code a route can answer, and where it is raised (``module:line``)."""

    status: int
    code: str
    where: str


@dataclass(frozen=True)
class ParamRef:
    """A code that is the value of the enclosing function's parameter ``name``."""

    name: str


@dataclass
class Function:
    """A function or method of a scanned module."""

    module: str
    qualname: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    owner: str | None  # the enclosing class, for methods
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # names imported inside it

    @property
    def key(self) -> str:
        return f"{self.module}.{self.qualname}"

    @property
    def params(self) -> list[str]:
        args = self.node.args
        return [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]

    @property
    def bound_params(self) -> list[str]:
        """Positional parameters a call site fills (``self``/``cls`` of a method are already bound)."""
        names = [a.arg for a in (*self.node.args.posonlyargs, *self.node.args.args)]
        is_static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in self.node.decorator_list)
        return names[1:] if self.owner and not is_static else names

    def default(self, name: str) -> str | None:
        args = self.node.args
        positional = [*args.posonlyargs, *args.args]
        pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        for arg, value in pairs:
            if arg.arg == name and isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
        return None


class Source:
    """The parsed ``handlers/api`` and ``handlers/web`` modules, with their imports and definitions."""

    def __init__(self, root: Path = HANDLERS) -> None:
        from handlers.api.http import ApiError

        self.api_error = ApiError
        self.modules: dict[str, ModuleType] = {}
        self.trees: dict[str, ast.Module] = {}
        self.imports: dict[str, dict[str, tuple[str, str | None]]] = {}
        self.functions: dict[str, Function] = {}
        self.classes: dict[str, ast.ClassDef] = {}  # "module.Class"
        self.assignments: dict[str, ast.expr] = {}  # "module.NAME" -> value
        for package in SCANNED:
            for path in sorted((root / package).glob("*.py")):
                name = f"handlers.{package}.{path.stem}".removesuffix(".__init__")
                self._load(name, path)

    def _load(self, name: str, path: Path) -> None:
        tree = ast.parse(path.read_text(), str(path))
        self.modules[name] = importlib.import_module(name)
        self.trees[name] = tree
        self.imports[name] = _imports(tree.body, name)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self._function(name, node.name, node, None)
            elif isinstance(node, ast.ClassDef):
                self.classes[f"{name}.{node.name}"] = node
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        self._function(name, f"{node.name}.{item.name}", item, node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.assignments[f"{name}.{target.id}"] = node.value

    def _function(self, module: str, qualname: str, node: Any, owner: str | None) -> None:
        inner = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
        self.functions[f"{module}.{qualname}"] = Function(module, qualname, node, owner, _imports(inner, module))

    # ---- resolution ------------------------------------------------------------------------------------------

    def lookup(self, module: str, name: str, local: dict[str, tuple[str, str | None]] | None = None) -> list[str]:
        """What ``name`` means in ``module`` (a function, class or table key), following imports."""
        imported = (local or {}).get(name) or self.imports.get(module, {}).get(name)
        if imported is not None:
            source, attr = imported
            if attr is None:
                return [f"module:{source}"]
            if f"{source}.{attr}" in self.modules:
                return [f"module:{source}.{attr}"]
            return self.lookup(source, attr) if source in self.modules else []
        key = f"{module}.{name}"
        if key in self.functions or key in self.classes or key in self.assignments:
            return [key]
        return []

    def methods(self, cls: str, name: str) -> list[str]:
        """``name`` on the class ``cls`` ("module.Class") or its scanned bases."""
        found = [f"{cls}.{name}"] if f"{cls}.{name}" in self.functions else []
        node = self.classes.get(cls)
        for base in node.bases if node else []:
            if isinstance(base, ast.Name):
                for resolved in self.lookup(cls.rsplit(".", 1)[0], base.id):
                    if resolved in self.classes:
                        found += self.methods(resolved, name)
        return found

    def any_method(self, name: str) -> list[str]:
        return [key for key, fn in self.functions.items() if fn.owner and key.endswith(f".{name}")]

    def api_error_class(self, key: str) -> type | None:
        if key not in self.classes:
            return None
        module, name = key.rsplit(".", 1)
        cls = getattr(self.modules[module], name, None)
        return cls if isinstance(cls, type) and issubclass(cls, self.api_error) else None


def _imports(nodes: Iterable[ast.stmt], module: str) -> dict[str, tuple[str, str | None]]:
    """``alias -> (module, attribute)`` for ``from m import a``; ``(module, None)`` for ``import m``."""
    table: dict[str, tuple[str, str | None]] = {}
    package = module.rsplit(".", 1)[0]
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                source = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [source]).strip(".")
            for alias in node.names:
                table[alias.asname or alias.name] = (source, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                table[alias.asname or alias.name.split(".")[0]] = (alias.name if alias.asname else alias.name, None)
    return table


class Walker:
    """The codes reachable from entry points, following calls with the literal codes they pass down."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.code_params = self._code_params()
        self.unresolved: list[str] = []

    def reach(self, entries: Iterable[str], cut: frozenset[str] = frozenset()) -> set[Raised]:
        """Every code raised from ``entries`` ("module.function"), not following the names in ``cut``."""
        found: set[Raised] = set()
        seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
        stack = [(entry, frozenset[tuple[str, str]]()) for entry in entries]
        while stack:
            key, binding = stack.pop()
            if (key, binding) in seen:
                continue
            seen.add((key, binding))
            for callee, callee_binding, raised in self._step(key, dict(binding), cut):
                found |= raised
                if callee is not None:
                    stack.append((callee, callee_binding))
        return found

    # ---- one function ----------------------------------------------------------------------------------------

    def _step(
        self, key: str, binding: dict[str, str], cut: frozenset[str]
    ) -> Iterator[tuple[str | None, frozenset[tuple[str, str]], set[Raised]]]:
        source = self.source
        if key in source.assignments:  # a table referenced as a value: everything it names may be called
            module = key.rsplit(".", 1)[0]
            for node in ast.walk(source.assignments[key]):
                if isinstance(node, ast.Name):
                    for target in source.lookup(module, node.id):
                        if target not in cut:
                            yield target, frozenset(), set()
            return
        fn = source.functions.get(key)
        if fn is None:
            return
        declared = getattr(self._object(fn), "__raises__", None)
        if declared is not None:
            where = f"{fn.module}:{fn.node.lineno}"
            yield None, frozenset(), {Raised(e.status, e.code, where) for e in declared}
        local_names = _local_names(fn.node)
        nodes = [sub for node in (*fn.node.decorator_list, *_body_nodes(fn.node)) for sub in ast.walk(node)]
        called = {id(sub.func) for sub in nodes if isinstance(sub, ast.Call)}  # resolved as calls, with arguments
        for sub in nodes:
            if id(sub) in called:
                continue
            if isinstance(sub, ast.Call):
                yield from self._call(fn, sub, binding, local_names, cut, quiet=declared is not None)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in local_names:
                for target in source.lookup(fn.module, sub.id, fn.imports):
                    if target not in cut and (target in source.functions or target in source.assignments):
                        yield target, frozenset(), set()
            elif isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Load):
                for target in self._properties(fn, sub):
                    yield target, frozenset(), set()

    def _call(
        self,
        fn: Function,
        call: ast.Call,
        binding: dict[str, str],
        local_names: set[str],
        cut: frozenset[str],
        quiet: bool,
    ) -> Iterator[tuple[str | None, frozenset[tuple[str, str]], set[Raised]]]:
        for target in self._targets(fn, call.func, local_names):
            if target in cut:
                continue
            error = self.source.api_error_class(target)
            if error is not None:
                raised = self._constructed(fn, call, error, binding, quiet)
                yield None, frozenset(), raised
            elif target in self.source.functions:
                yield target, self._bind(fn, call, self.source.functions[target], binding), set()

    def _constructed(
        self, fn: Function, call: ast.Call, error: type, binding: dict[str, str], quiet: bool
    ) -> set[Raised]:
        where = f"{fn.module}:{call.lineno}"
        given = next((k.value for k in call.keywords if k.arg == "code"), None)
        if given is None:
            return {Raised(error.status, error.code, where)}
        code = self._value(given, binding)
        if code is None:
            if not quiet:
                self.unresolved.append(f"{where}: {error.__name__}(code={ast.unparse(given)})")
            return set()
        return {Raised(error.status, code, where)}

    def _value(self, node: ast.expr, binding: dict[str, str]) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return binding.get(node.id)
        return None

    def _bind(self, caller: Function, call: ast.Call, callee: Function, binding: dict[str, str]) -> frozenset:
        """The callee's code parameters bound to what this call passes (a literal, or the caller's own binding)."""
        wanted = self.code_params.get(callee.key, set())
        if not wanted:
            return frozenset()
        passed: dict[str, ast.expr] = dict(zip(callee.bound_params, call.args, strict=False))
        passed.update({k.arg: k.value for k in call.keywords if k.arg})
        bound = {}
        for name in wanted:
            value = self._value(passed[name], binding) if name in passed else callee.default(name)
            if value is None:
                value = callee.default(name) if name not in passed else None
            if value is not None:
                bound[name] = value
            else:
                self.unresolved.append(f"{caller.module}:{call.lineno}: {callee.key}({name}=?)")
        return frozenset(bound.items())

    # ---- what a call or attribute names ----------------------------------------------------------------------

    def _targets(self, fn: Function, func: ast.expr, local_names: set[str]) -> list[str]:
        source = self.source
        if isinstance(func, ast.Name):
            if func.id in local_names or hasattr(builtins, func.id) and not source.lookup(fn.module, func.id):
                return []
            found = source.lookup(fn.module, func.id, fn.imports)
            return [t for t in found if t in source.functions or t in source.classes]
        if isinstance(func, ast.Attribute):
            value = func.value
            if isinstance(value, ast.Name) and value.id in ("self", "cls") and fn.owner:
                return source.methods(f"{fn.module}.{fn.owner}", func.attr)
            if isinstance(value, ast.Name) and value.id not in local_names:
                for resolved in source.lookup(fn.module, value.id, fn.imports):
                    if resolved.startswith("module:"):
                        module = resolved.removeprefix("module:")
                        return [t for t in source.lookup(module, func.attr) if not t.startswith("module:")]
                    if resolved in source.classes:
                        return source.methods(resolved, func.attr)
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super":
                return [m for base in self._bases(fn) for m in source.methods(base, func.attr)]
            return source.any_method(func.attr)
        return []

    def _bases(self, fn: Function) -> list[str]:
        node = self.source.classes.get(f"{fn.module}.{fn.owner}")
        names = [b.id for b in node.bases if isinstance(b, ast.Name)] if node else []
        return [t for name in names for t in self.source.lookup(fn.module, name) if t in self.source.classes]

    def _properties(self, fn: Function, attribute: ast.Attribute) -> list[str]:
        """A property read (``request.caller``) runs its getter."""
        found = []
        for key in self.source.any_method(attribute.attr):
            node = self.source.functions[key].node
            if any(_decorator_name(d) in ("property", "cached_property") for d in node.decorator_list):
                found.append(key)
        return found

    def _object(self, fn: Function) -> Any:
        obj: Any = self.source.modules[fn.module]
        for part in fn.qualname.split("."):
            obj = getattr(obj, part, None)
        return inspect.unwrap(obj) if callable(obj) else obj

    # ---- which parameters carry codes ------------------------------------------------------------------------

    def _code_params(self) -> dict[str, set[str]]:
        """Per function, the parameters whose value ends up as some ApiError's ``code`` (to a fixpoint)."""
        params: dict[str, set[str]] = {key: set() for key in self.source.functions}
        changed = True
        while changed:
            changed = False
            for key, fn in self.source.functions.items():
                names = set(fn.params)
                local_names = _local_names(fn.node)
                for call in (n for n in ast.walk(fn.node) if isinstance(n, ast.Call)):
                    for target in self._targets(fn, call.func, local_names - names):
                        if self.source.api_error_class(target):
                            carried = {
                                k.value.id for k in call.keywords if k.arg == "code" and isinstance(k.value, ast.Name)
                            }
                        elif target in self.source.functions:
                            callee = self.source.functions[target]
                            passed = dict(zip(callee.bound_params, call.args, strict=False))
                            passed.update({k.arg: k.value for k in call.keywords if k.arg})
                            carried = {
                                v.id for name, v in passed.items() if name in params[target] and isinstance(v, ast.Name)
                            }
                        else:
                            continue
                        new = (carried & names) - params[key]
                        if new:
                            params[key] |= new
                            changed = True
        return params


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _body_nodes(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    return [*node.body, *node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]


def _local_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Parameters and names assigned inside the function (calls through them are not resolved statically)."""
    names = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
        elif isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef) and sub is not node:
            names.add(sub.name)
    return names


def route_entries(source: Source, module: str, route_key: str) -> tuple[list[str], frozenset[str]]:
    """A route's entry points and what not to follow from them (the dispatch table)."""
    entries = [f"{module}.handler"]
    routes = getattr(source.modules[module], "ROUTES", None)
    if routes is None:
        return entries, frozenset()
    route = routes[route_key]
    return [*entries, f"{route.__module__}.{route.__qualname__}"], frozenset({f"{module}.ROUTES"})


def reachable_codes(module: str, route_key: str, source: Source | None = None) -> tuple[set[Raised], list[str]]:
    """Every code the route's handler can raise, and the raise sites whose code could not be told."""
    source = source or Source()
    walker = Walker(source)
    entries, cut = route_entries(source, module, route_key)
    return walker.reach(entries, cut), walker.unresolved
