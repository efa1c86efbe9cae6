"""The project's layering: which top-level package may import which, and no module cycle.

Every import counts: module level, inside functions, `importlib.import_module("...")` with a
literal name, and the lazy exports of a package's `__init__` (`_LAZY = {"name": "module"}`).
Dependencies point one way (see STYLE.md, "Boundaries"):

    common <- stylegan <- hub, inversion, draggan;  common <- align;
    training <- (common, stylegan, align);  pipeline <- (everything above but training);
    editor <- (common, pipeline);  evaluation <- (all but editor, benchmarks);
    benchmarks (not installed) <- all but evaluation.

Nothing in the project imports `editor`, `evaluation` or `benchmarks` except `benchmarks`
itself (its editor benchmark measures the editor). Inside `pipeline`, only the entry points
import `pipeline.cli`: the editor and the orchestration never depend on the command line.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "stylegan": {"common"},
    "align": {"common"},
    "inversion": {"common", "stylegan"},
    "draggan": {"common", "stylegan"},
    "hub": {"common", "stylegan", "inversion"},
    "training": {"common", "stylegan", "align"},
    "pipeline": {"common", "stylegan", "hub", "align", "inversion", "draggan"},
    "editor": {"common", "pipeline"},
    "evaluation": {"common", "stylegan", "hub", "align", "inversion", "draggan", "pipeline", "training"},
    "benchmarks": {"common", "stylegan", "hub", "align", "inversion", "draggan", "pipeline", "training", "editor"},
    "run_pipeline": {"pipeline"},
}
PACKAGES = [name for name in ALLOWED if name != "run_pipeline"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = REPO) -> dict[str, Path]:
    """Module name -> file, for every module of the project's packages and run_pipeline.py."""
    modules = {_module_name(p): p for package in PACKAGES for p in (root / package).rglob("*.py")}
    modules["run_pipeline"] = root / "run_pipeline.py"
    return modules


def _lazy_exports(tree: ast.Module) -> dict[str, str]:
    """The `_LAZY = {"name": "module", ...}` table of a package `__init__`, if any."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_LAZY" for t in node.targets):
            if isinstance(node.value, ast.Dict):
                return {
                    k.value: v.value
                    for k, v in zip(node.value.keys, node.value.values)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                }
    return {}


def _raw_imports(tree: ast.Module, package: str) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import statement anywhere in the tree."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, [alias.name for alias in node.names]))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, []))
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name from a package's lazy table counts as its module)."""
    trees = {name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for name, path in modules.items()}
    lazy = {name: _lazy_exports(tree) for name, tree in trees.items() if modules[name].name == "__init__.py"}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, tree in trees.items():
        package = name if modules[name].name == "__init__.py" else name.rpartition(".")[0]
        targets = set(lazy.get(name, {}).values())
        for module, names in _raw_imports(tree, package):
            for imported in names or [""]:
                if f"{module}.{imported}" in modules:
                    targets.add(f"{module}.{imported}")  # `from pkg import submodule`
                elif imported in lazy.get(module, {}):
                    # A lazy export counts as its defining module inside the package; a name the
                    # package re-exports from another package is the package's own dependency.
                    defined_in = lazy[module][imported]
                    targets.add(defined_in if _top(defined_in) == _top(module) else module)
                elif module in modules:
                    targets.add(module)
        # A submodule importing its own package's `__init__` is Python's import order, not a dependency.
        graph[name] = {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
    return graph


def _top(module: str) -> str:
    return module.split(".")[0]


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    """'a.b imports c.d' for every import that the allowed graph between top-level packages forbids."""
    bad = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            src, dst = _top(source), _top(target)
            if src == dst:
                if target.startswith("pipeline.cli") and not source.startswith("pipeline.cli"):
                    bad.append(f"{source} imports {target} (only the entry points import the command line)")
                continue
            if dst not in ALLOWED[src]:
                bad.append(f"{source} imports {target} ({src} may import only {sorted(ALLOWED[src]) or 'nothing'})")
            elif target.startswith("pipeline.cli") and source != "run_pipeline":
                bad.append(f"{source} imports {target} (only the entry points import the command line)")
    return bad


def module_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = project_modules()
    assert len(modules) > 100 and all(_top(m) in ALLOWED for m in modules)  # the scan sees the whole project
    return import_graph(modules)


def test_imports_follow_the_allowed_graph(graph):
    assert layering_violations(graph) == []


def test_no_module_cycle(graph):
    assert module_cycles(graph) == []


def test_editor_evaluation_and_benchmarks_are_imported_by_no_library_package(graph):
    for source, targets in graph.items():
        if _top(source) == "benchmarks":
            continue
        for target in targets:
            if _top(target) in ("editor", "evaluation", "benchmarks"):
                assert _top(source) == _top(target), f"{source} imports {target}"


def _write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
    (root / "run_pipeline.py").touch()
    return {_module_name_in(root, p): p for p in root.rglob("*.py")}


def _module_name_in(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_scan_sees_function_level_lazy_and_importlib_imports(tmp_path):
    modules = _write(
        tmp_path,
        {
            "stylegan/__init__.py": '_LAZY = {"Generator": "stylegan.networks"}\n',
            "stylegan/networks.py": "def f():\n    from pipeline.edit import edit_photo\n",
            "pipeline/__init__.py": "",
            "pipeline/edit.py": "import importlib\nimportlib.import_module('editor.app')\n"
            "from stylegan import Generator\n",
            "pipeline/batch.py": "from pipeline.cli.main import main\n",
            "pipeline/cli/__init__.py": "",
            "pipeline/cli/main.py": "def g():\n    from pipeline import batch\n",
            "editor/__init__.py": "",
            "editor/app.py": "",
        },
    )
    graph = import_graph(modules)
    assert graph["stylegan"] == {"stylegan.networks"}
    assert graph["stylegan.networks"] == {"pipeline.edit"}  # inside a function
    assert graph["pipeline.edit"] == {"editor.app", "stylegan.networks"}  # importlib; lazy export
    assert graph["pipeline.cli.main"] == {"pipeline.batch"}  # `from package import submodule`
    bad = layering_violations(graph)
    assert "stylegan.networks imports pipeline.edit (stylegan may import only ['common'])" in bad
    assert any(line.startswith("pipeline.edit imports editor.app") for line in bad)
    assert any(line.startswith("pipeline.batch imports pipeline.cli.main") for line in bad)
    assert module_cycles(graph) == [["pipeline.batch", "pipeline.cli.main"], ["pipeline.edit", "stylegan.networks"]]
