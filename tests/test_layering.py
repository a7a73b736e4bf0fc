"""Imports run one way: vocab and grammar, then automata, masks, model loop, API."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "constrain"

# layer of each module or sub-package; a module may import only from layers <= its own,
# and the two layer-1 halves (vocab, grammar) never import each other.
LAYERS = {
    "errors": 0,
    "config": 0,
    "kernels": 0,
    "cache": 0,
    "vocab": 1,
    "grammar": 1,
    "tools": 1,
    "reasoning": 2,
    "automata": 2,
    "masks": 3,
    "models": 3,
    "samplers": 4,
    "testing": 4,
    "infill": 4,
    "lm": 5,
    "generation": 5,
    "integrations": 5,
    "diffusion": 5,
    "api": 6,
    "cli": 6,
    "__main__": 6,
    "__init__": 6,
}
SEPARATE = {("vocab", "grammar"), ("grammar", "vocab")}
TORCH_FREE = {"errors", "config", "kernels", "cache", "vocab", "grammar", "automata"}


def _top(module_path: pathlib.Path) -> str:
    rel = module_path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: pathlib.Path):
    """(imported constrain top-level name, third-party root, line) for every import."""
    tree = ast.parse(path.read_text())
    depth = len(path.relative_to(PACKAGE).parts) - 1
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = list(path.relative_to(PACKAGE).parts[: depth + 1 - node.level])
                target = parts + (node.module.split(".") if node.module else [])
                if not target:
                    for alias in node.names:
                        yield (alias.name if alias.name in LAYERS else "__init__"), None, node.lineno
                else:
                    yield target[0].removesuffix(".py"), None, node.lineno
            elif node.module and node.module.split(".")[0] == "constrain":
                rest = node.module.split(".")[1:]
                yield (rest[0] if rest else "__init__"), None, node.lineno
            elif node.module:
                yield None, node.module.split(".")[0], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")
                if root[0] == "constrain":
                    yield (root[1] if len(root) > 1 else "__init__"), None, node.lineno
                else:
                    yield None, root[0], node.lineno


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_imports_point_down(path):
    here = _top(path)
    assert here in LAYERS, f"{here} has no layer in tests/test_layering.py"
    for target, third_party, line in _imports(path):
        if target is not None and target != here:
            assert target in LAYERS, f"{path.name}:{line} imports unknown constrain.{target}"
            assert LAYERS[target] <= LAYERS[here], f"{path.name}:{line}: {here} imports upward {target}"
            assert (here, target) not in SEPARATE, f"{path.name}:{line}: {here} must not see {target}"
        if third_party in ("torch", "transformers") and here in TORCH_FREE:
            # allowed only lazily, inside a function (e.g. Vocabulary.from_transformers)
            tree = ast.parse(path.read_text())
            top_level = {n.lineno for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))}
            assert line not in top_level, f"{path.name}:{line}: {here} imports {third_party} at module level"


def test_numba_only_in_kernels():
    for path in MODULES:
        if _top(path) == "kernels":
            continue
        for _, third_party, line in _imports(path):
            assert third_party != "numba", f"{path.relative_to(PACKAGE)}:{line} imports numba outside kernels/"


def test_kernel_flags_come_from_config():
    for path in (PACKAGE / "kernels").glob("*.py"):
        text = path.read_text()
        for flag in ("fastmath=", "cache=", "parallel=", "nogil="):
            assert flag not in text.replace("**NJIT_OPTIONS", ""), f"{path.name} hard-codes {flag}"


# --- cycles between modules ------------------------------------------------------------

ROOT = PACKAGE.parent


def _module_graph(package: str, parent: pathlib.Path = ROOT) -> dict:
    """Module -> the package's modules it imports (at any depth of the code: function-level
    imports count)."""
    root = parent / package
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    edges: dict = {m: set() for m in modules}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
                targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def _cycles(edges: dict) -> list:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    found = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


@pytest.mark.parametrize("package", ["constrain", "jsonschemabench"])
def test_no_import_cycles(package):
    cycles = _cycles(_module_graph(package))
    assert not cycles, f"import cycles: {[sorted(c) for c in cycles]}"


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_module_graph_counts_function_level_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ir.py").write_text("def build():\n    from .front import parse\n    return parse()\n")
    (package / "front.py").write_text("from .ir import build\n")
    assert _cycles(_module_graph("pkg", tmp_path)) == [{"pkg.ir", "pkg.front"}]


@pytest.mark.parametrize("package", ["constrain", "jsonschemabench"])
def test_no_module_imports_another_modules_private_names(package):
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(package)):
                offenders += [
                    f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert not offenders, offenders
