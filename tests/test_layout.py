"""The layout the packages keep: who may import whom, no cycles, no private names across packages, no path
hacks, and package docstrings and the README's table that describe the tree as it is."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from conftest import REPO

PACKAGES = ("nom", "collector", "dispatch", "nectar")
# what each top-level package may import of the others
ALLOWED = {"nom": set(), "collector": {"nom"}, "dispatch": {"nom"}, "nectar": {"nom"}}
# within nom, layers from the bottom: a module may import its own layer's modules (acyclically) or lower ones
NOM_LAYERS = [
    ("the object model", ("nom.errors", "nom.model", "nom.codec", "nom.written", "nom.books")),
    ("the store's job folders", ("nom.store.nofollow", "nom.store.durable", "nom.store.fileinfo", "nom.store.index",
                                 "nom.store.clock", "nom.store.pins", "nom.store.folders", "nom.store.snapshots")),
    ("the commit pipeline", ("nom.store.commit",)),
    ("the store's facade and readers", ("nom.store.store", "nom.store.scan", "nom.store.follow", "nom.store")),
    ("the package's names", ("nom",)),
    ("the socket layer", ("nom.net",)),
]


def modules() -> dict[str, Path]:
    """Every module of the four packages, by dotted name (a package is its ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = modules()


def imports(name: str) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import in ``name``, at any depth."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
            out += [(base, alias.name) for alias in node.names]
    return out


def edges() -> dict[str, set[str]]:
    """The project's module graph: each module and the project modules it imports."""
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        targets = set()
        for module, taken in imports(name):
            if module.split(".")[0] not in PACKAGES:
                continue
            if taken is not None and f"{module}.{taken}" in MODULES:
                targets.add(f"{module}.{taken}")
            elif taken is not None and (REPO / module.replace(".", "/") / f"{taken}.c").is_file():
                continue  # a C module beside the importer: it imports nothing of the project
            elif module in MODULES:
                targets.add(module)
        graph[name] = targets - {name}
    return graph


GRAPH = edges()


def top(name: str) -> str:
    return name.split(".")[0]


def test_no_module_cycles() -> None:
    """No two modules import each other, directly or around a circle."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


def test_packages_depend_one_way() -> None:
    wrong = [f"{a} imports {b}" for a, targets in GRAPH.items() for b in targets
             if top(b) != top(a) and top(b) not in ALLOWED[top(a)]]
    assert wrong == []


def test_other_packages_reach_nom_through_its_package_names() -> None:
    """collector, dispatch and nectar import nom, nom.store and nom.net (their __all__), not the modules inside."""
    facades = {"nom", "nom.store", "nom.net"}
    wrong = [f"{a} imports {b}" for a, targets in GRAPH.items() if top(a) != "nom"
             for b in targets if top(b) == "nom" and b not in facades]
    assert wrong == []


def test_nom_is_layered() -> None:
    """The object model needs no store and no sockets; the job folders no commit; the commit no facade."""

    def layer(name: str) -> int:
        best = max((n for n, (_, prefixes) in enumerate(NOM_LAYERS)
                    for p in prefixes if name == p or name.startswith(p + ".")), default=None,
                   key=lambda n: max(len(p) for p in NOM_LAYERS[n][1] if name == p or name.startswith(p + ".")))
        assert best is not None, f"{name} belongs to no layer of nom"
        return best

    wrong = [f"{a} ({NOM_LAYERS[layer(a)][0]}) imports {b} ({NOM_LAYERS[layer(b)][0]})"
             for a, targets in GRAPH.items() if top(a) == "nom" for b in targets if layer(b) > layer(a)]
    assert wrong == []


def test_no_private_names_across_packages() -> None:
    """A ``_name`` is imported only from the importer's own package (a module of it, or the package itself)."""
    wrong = []
    for name, path in MODULES.items():
        own = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for module, taken in imports(name):
            if top(module) not in PACKAGES:
                continue
            private = [part for part in module.split(".") if part.startswith("_")]
            if taken is not None and taken.startswith("_") and not taken.startswith("__"):
                private.append(taken)
            if private and module != own and not module.startswith(own + "."):
                wrong.append(f"{name} imports {', '.join(private)} from {module}")
    assert wrong == []


def test_no_path_hacks_or_naming_exemptions() -> None:
    pattern = re.compile(r"sys\.path\.insert|noqa: N802|noqa: E402")
    found = [f"{path.relative_to(REPO)}:{n}" for path in MODULES.values()
             for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    found += [f"{path.relative_to(REPO)}:{n}" for path in sorted((REPO / "bench").glob("*.py"))
              for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []


PACKAGE_INITS = sorted(name for name, path in MODULES.items() if path.name == "__init__.py")


@pytest.mark.parametrize("package", PACKAGE_INITS)
def test_each_package_says_what_lives_in_it_and_lists_its_names(package: str) -> None:
    module = importlib.import_module(package)
    doc = module.__doc__ or ""
    folder = MODULES[package].parent
    subpackages = sorted(p.name for p in folder.iterdir() if (p / "__init__.py").is_file())
    missing = [sub for sub in subpackages if f"{sub}/" not in doc]
    assert missing == [], f"{package}'s docstring does not say what lives in {missing}"
    if package != "nectar":  # the shell's modules are reached by name; it promises no names of its own
        assert module.__all__, f"{package} lists no public names"
        assert [n for n in module.__all__ if not hasattr(module, n)] == []


def test_the_readme_table_lists_every_package_folder() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## What Nectar is"):readme.index("## Commands")]
    listed = set(re.findall(r"^\| `([\w/]+/)` \|", table, re.MULTILINE))
    folders = {str(MODULES[p].parent.relative_to(REPO)) + "/" for p in PACKAGE_INITS}
    assert folders - listed == set(), f"the README's table lacks {sorted(folders - listed)}"
    assert {f for f in listed if f.split("/")[0] in PACKAGES} <= folders, "the README lists folders that are gone"
