"""The import rules of docs/architecture.md, checked on the source.

Every ``import`` / ``from ... import`` of a factorbench module anywhere in a module's source
counts, including the lazy ones inside functions and those under ``if TYPE_CHECKING``
(a circle there is still a circle a reader has to hold in mind). Relative imports are
resolved against the importing module's package. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg`` itself.

Three rules:

1. no import from a higher layer (``LAYERS``, lowest first; the base utilities may be
   imported by every layer and import nothing above them);
2. no import between the layer pairs of ``FORBIDDEN_BETWEEN`` although their ranks allow it
   (data and models know nothing of each other; metrics and evaluators -> train, since a
   metric is pure, no evaluator trains and checkpoint I/O lives in models/, below both);
3. no import circle between modules (a strongly connected component of more than one
   module in the graph of explicit imports).

The edges and circles that still break a rule are listed, each with its reason, in
``ALLOWED_UPWARD`` and ``ALLOWED_CIRCLES``. A new upward import or a new circle fails; so
does an allowed entry that no longer exists, so the lists only shrink as the redesign of
issue 16 proceeds: delete the entry when the code no longer needs it.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "factorbench"
PACKAGE = "factorbench"

#: the layers, lowest first, as (rank, name, module prefixes); a module belongs to the layer
#: of its longest matching prefix (the bare package name matches only the package root, so
#: a new top-level module must be placed here). data and models share a rank and
#: FORBIDDEN_BETWEEN keeps them apart. No module is in "report" yet (tables, findings and
#: thesis numbers live in bench/); the rank is kept for the target layout.
LAYERS: Tuple[Tuple[int, str, Tuple[str, ...]], ...] = (
    (0, "base", ("factorbench.errors", "factorbench.config", "factorbench.fileio", "factorbench.paths",
                 "factorbench.registry", "factorbench.seeding", "factorbench.device", "factorbench.versions",
                 "factorbench.figures")),
    (1, "data", ("factorbench.data",)),
    (1, "models", ("factorbench.models",)),
    (2, "train", ("factorbench.train",)),
    (3, "metrics", ("factorbench.metrics",)),
    (4, "evaluators", ("factorbench.evaluators",)),
    (5, "bench", ("factorbench.bench",)),
    (6, "report", ("factorbench.report",)),
    # the command line and the public Python API (the package root, ``factorbench.api``)
    (7, "cli", ("factorbench.cli", "factorbench.__main__", "factorbench.api", "factorbench")),
)

#: (importing layer, imported layer) -> why, for pairs the ranks alone would allow
FORBIDDEN_BETWEEN: Dict[Tuple[str, str], str] = {
    ("data", "models"): "datasets yield samples; they know no model",
    ("models", "data"): "models take batches of the one sample contract; they know no dataset",
    ("metrics", "train"): "a metric is a pure function; loading a checkpoint is not training (checkpoint I/O "
                          "lives in models/checkpoint.py, below both)",
    ("evaluators", "train"): "no evaluator trains: derived runs are to be benchmark stages",
}

#: (importer, imported) -> why the rule-breaking import is still there. Remove an entry when its
#: import goes; the stale-entry test fails until you do.
ALLOWED_UPWARD: Dict[Tuple[str, str], str] = {
}


#: sets of modules that import each other -> why. A circle that grows, shrinks or splits
#: no longer matches its entry: update the entry (or delete it) in the same commit.
ALLOWED_CIRCLES: Dict[FrozenSet[str], str] = {
}


def module_name(path: Path, package_dir: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def all_modules(package_dir: Path) -> Dict[str, Path]:
    return {module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}


def resolve(importer: str, is_package: bool, level: int, module: str) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in ``importer``."""
    if level == 0:
        return module
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: Path, modules: Set[str]) -> Set[str]:
    """Every factorbench module ``name`` imports, anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = resolve(name, is_package, node.level, node.module or "")
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # ``import a.b.c`` binds a but runs a.b.c: the edge is to the deepest module named
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target.split(".")[0] == PACKAGE and target != name:
                found.add(target)
    return found


def import_graph(package_dir: Path = PACKAGE_DIR) -> Dict[str, Set[str]]:
    """module -> the factorbench modules it imports, for every module under ``package_dir``."""
    modules = all_modules(package_dir)
    names = set(modules)
    return {name: imports_of(name, path, names) for name, path in modules.items()}


def find_layer(module: str) -> Optional[Tuple[int, str]]:
    """(rank, layer) of the longest LAYERS prefix that holds ``module``; None if none does."""
    best = None
    for rank, layer, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or (prefix != PACKAGE and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), rank, layer)
    return None if best is None else (best[1], best[2])


def layer_of(module: str) -> Tuple[int, str]:
    found = find_layer(module)
    assert found is not None, f"{module} is in no layer: add it to LAYERS in {__file__}"
    return found


def breaks_a_rule(importer: str, imported: str) -> bool:
    (rank_a, layer_a), (rank_b, layer_b) = layer_of(importer), layer_of(imported)
    return rank_b > rank_a or (layer_a, layer_b) in FORBIDDEN_BETWEEN


def upward_edges(graph: Dict[str, Set[str]]) -> Set[Tuple[str, str]]:
    """The imports that break rule 1 or 2."""
    return {(a, b) for a, targets in graph.items() for b in targets if breaks_a_rule(a, b)}


def circles(graph: Dict[str, Set[str]]) -> List[FrozenSet[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    found: List[FrozenSet[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


@pytest.fixture(scope="module")
def graph() -> Dict[str, Set[str]]:
    return import_graph()


def test_every_module_is_in_a_layer(graph):
    unplaced = sorted(m for m in graph if find_layer(m) is None)
    assert not unplaced, f"modules in no layer (add them to LAYERS in {__file__}): {', '.join(unplaced)}"


def test_no_new_upward_import(graph):
    new = sorted(upward_edges(graph) - set(ALLOWED_UPWARD))
    assert not new, "imports from a higher layer (docs/architecture.md, 'Import rules'):\n" + "\n".join(
        f"  {a} ({layer_of(a)[1]}) imports {b} ({layer_of(b)[1]})" for a, b in new)


def test_no_new_import_circle(graph):
    new = [c for c in circles(graph) if c not in ALLOWED_CIRCLES]
    assert not new, "import circles (docs/architecture.md, 'Import rules'):\n" + "\n".join(
        "  " + " <-> ".join(sorted(c)) for c in new)


def test_allow_lists_have_no_stale_entries(graph):
    """An allowed exception that the code no longer has must leave the list."""
    stale_edges = sorted(set(ALLOWED_UPWARD) - upward_edges(graph))
    current = set(circles(graph))
    stale_circles = [c for c in ALLOWED_CIRCLES if c not in current]
    assert not stale_edges and not stale_circles, (
        "remove from tests/test_architecture.py (fixed, or changed shape):\n"
        + "\n".join(f"  ALLOWED_UPWARD {a} -> {b}" for a, b in stale_edges)
        + "\n".join("  ALLOWED_CIRCLES " + " <-> ".join(sorted(c)) for c in stale_circles))


# ---------------------------------------------------------------------------- the checker itself
def write_package(root: Path, files: Dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / PACKAGE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_checker_sees_relative_lazy_and_package_imports(tmp_path):
    write_package(tmp_path, {
        "__init__.py": "",
        "errors.py": "",
        "models/__init__.py": "from . import vae\n",
        "models/vae.py": "from ..errors import X\n\ndef f():\n    from ..train import trainer\n",
        "train/__init__.py": "",
        "train/trainer.py": "import factorbench.models.vae\nfrom factorbench.metrics import sharp as s\n",
        "metrics/__init__.py": "",
        "metrics/sharp.py": "from ..train.trainer import fit\n",
    })
    g = import_graph(tmp_path / PACKAGE)
    assert g["factorbench.models"] == {"factorbench.models.vae"}
    assert g["factorbench.models.vae"] == {"factorbench.errors", "factorbench.train.trainer"}
    assert g["factorbench.train.trainer"] == {"factorbench.models.vae", "factorbench.metrics.sharp"}
    assert upward_edges(g) == {("factorbench.models.vae", "factorbench.train.trainer"),  # rank
                               ("factorbench.train.trainer", "factorbench.metrics.sharp"),  # rank
                               ("factorbench.metrics.sharp", "factorbench.train.trainer")}  # FORBIDDEN_BETWEEN
    assert circles(g) == [frozenset({"factorbench.models.vae", "factorbench.train.trainer",
                                     "factorbench.metrics.sharp"})]
    del g["factorbench.metrics.sharp"]  # a graph without circles has none
    g["factorbench.train.trainer"] = set()
    assert circles(g) == []


def test_a_module_outside_every_layer_is_reported():
    assert layer_of("factorbench") == (7, "cli")
    assert layer_of("factorbench.models.vae.model") == (1, "models")
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("factorbench.newthing")
