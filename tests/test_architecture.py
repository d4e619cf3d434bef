"""The package's import structure: no import cycles, no private names across seams.

Every module of ``mammoclf`` is parsed with :mod:`ast` (nothing is imported),
and two rules are checked.

No import cycle
    Every ``import`` statement counts, wherever it is: at module level, in a
    function, in a class body or under ``if TYPE_CHECKING:``. A function-level
    import only postpones a cycle to run time (the first call), and it hides
    a layering problem: ``cli._main`` imported ``cli._compare`` inside
    ``main()`` while ``cli._compare`` imported ``UsageError`` back from
    ``cli._main``. Importing ``a.b.c`` also runs the ``__init__`` of ``a.b``,
    so the edge goes to those packages too, except to the importer's own
    ancestors (already being initialised, as Python does for
    ``from mammoclf.stats._results import ...`` inside ``mammoclf.stats``).
    ``from mammoclf import Name`` is resolved through the root's lazy-export
    table to the module that defines ``Name``.

No private name or module of another part of the package
    A *part* is a subpackage (``mammoclf.stats``) or a top-level module
    (``mammoclf.pipeline``). A module may import a ``_private`` module or a
    ``_private`` name only from its own part. ``mammoclf.utils``,
    ``mammoclf.exceptions`` and the root's ``mammoclf._version`` are shared
    by design. Anything another part needs is public in its home package
    (re-exported by its ``__init__``).

A helper lives in the lowest part that owns its concept
    ``mammoclf.utils`` holds generic helpers only (validation, formatting,
    progress, the Keras import), not whatever two parts happen to share: a
    helper that serves one concept lives in that concept's part, and other
    parts use it through the part's public names. The check that can be
    automated: a ``utils`` module used by a single part belongs to that part
    (the activation store, its keys, the batch feeders and the distribution
    helpers served only the classifiers, and moved there), unless it is
    listed in :data:`GENERIC_SINGLE_USE` with the reason it is generic.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = "mammoclf"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
SHARED_PARTS = {f"{PACKAGE}.utils", f"{PACKAGE}.exceptions", f"{PACKAGE}._version"}
# utils modules that one part uses today but that know nothing of it.
GENERIC_SINGLE_USE = {
    f"{PACKAGE}.utils._quiet": "silences third-party log chatter; any entry point may",
}


def _module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(name):
    return (ROOT.parent / Path(*name.split(".")) / "__init__.py").is_file()


def _is_module(name):
    path = ROOT.parent / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _lazy_exports():
    """Name -> defining module, from the root ``__init__``'s ``_LAZY_EXPORTS``."""
    tree = ast.parse((ROOT / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and getattr(node.targets[0], "id", None) == "_LAZY_EXPORTS"
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("mammoclf/__init__.py has no _LAZY_EXPORTS table")


def _imports(path, module):
    """``(target module, imported name or None, line)`` of every import statement."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield base, alias.name, node.lineno


def _internal(name):
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _modules():
    return {
        _module_name(path): path
        for path in sorted(ROOT.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _edges(module, path, lazy_exports):
    """Modules whose code runs when ``module``'s import statements run."""
    own_ancestors = {".".join(module.split(".")[:i]) for i in range(1, 10)}
    targets = set()
    for base, name, _ in _imports(path, module):
        if not _internal(base):
            continue
        target = base
        if name is not None and _is_module(f"{base}.{name}"):
            target = f"{base}.{name}"
        elif base == PACKAGE and name in lazy_exports:
            target = lazy_exports[name]
        parts = target.split(".")
        for depth in range(1, len(parts) + 1):
            step = ".".join(parts[:depth])
            if step not in own_ancestors and step != module:
                targets.add(step)
    return targets


def _part(name):
    """The subpackage or top-level module that owns ``name``."""
    return ".".join(name.split(".")[:2])


def _is_private(component):
    return component.startswith("_") and not component.startswith("__")


def private_imports():
    """``(importer, imported, line)`` for each private import across parts."""
    found = []
    for module, path in _modules().items():
        for base, name, line in _imports(path, module):
            if not _internal(base):
                continue
            full = base if name is None else f"{base}.{name}"
            components = full.split(".")[1:]
            private = [i for i, c in enumerate(components) if _is_private(c)]
            if not private:
                continue
            owner = _part(".".join([PACKAGE, *components[: private[0] + 1]]))
            if owner in SHARED_PARTS or owner == _part(module):
                continue
            found.append((module, full, line))
    return found


def import_cycles():
    """Each strongly connected component of more than one module, sorted."""
    lazy = _lazy_exports()
    graph = {m: _edges(m, p, lazy) for m, p in _modules().items()}
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in graph:
                continue
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def test_the_parser_sees_the_whole_package():
    modules = _modules()
    assert len(modules) > 60
    graph = {m: _edges(m, p, _lazy_exports()) for m, p in modules.items()}
    # Spot checks that relative, nested and lazy-root imports are all seen.
    assert "mammoclf.stats._results" in graph["mammoclf.stats._paired"]
    assert "mammoclf.preprocessing" in graph["mammoclf.datasets._scan"]


def test_the_checks_catch_what_they_forbid(tmp_path, monkeypatch):
    """The rules fire on a toy package with one cycle and one private import."""
    package = tmp_path / PACKAGE
    for folder in ("a", "b", "utils"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("_LAZY_EXPORTS = {}\n")
    (package / "a" / "_x.py").write_text(
        "from mammoclf.b._y import _helper\nfrom mammoclf.utils._z import ok\n"
    )
    (package / "b" / "_y.py").write_text(
        "def _helper():\n    from mammoclf.a import _x\n"
    )
    (package / "utils" / "_z.py").write_text("ok = 1\n")
    monkeypatch.setitem(globals(), "ROOT", package)
    assert private_imports() == [
        ("mammoclf.a._x", "mammoclf.b._y._helper", 1),
        ("mammoclf.b._y", "mammoclf.a._x", 2),
    ]
    assert import_cycles() == [("mammoclf.a._x", "mammoclf.b._y")]


def test_no_private_imports_across_subpackages():
    violations = [
        f"{importer} (line {line}) imports {imported}"
        for importer, imported, line in private_imports()
    ]
    assert not violations, (
        "Private names or modules imported from another part of mammoclf; make "
        "them public in their home package (generic helpers go to mammoclf.utils):\n"
        + "\n".join(violations)
    )


def utils_users():
    """``utils`` module -> the other parts that import it."""
    users = {}
    for module, path in _modules().items():
        if _part(module) == f"{PACKAGE}.utils":
            continue
        for base, name, _ in _imports(path, module):
            full = base if name is None else f"{base}.{name}"
            if full.startswith(f"{PACKAGE}.utils._"):
                owner = ".".join(full.split(".")[:3])
                users.setdefault(owner, set()).add(_part(module))
    return users


def test_utils_holds_no_helper_of_a_single_part():
    single = {
        helper: parts.pop()
        for helper, parts in utils_users().items()
        if len(parts) == 1 and helper not in GENERIC_SINGLE_USE
    }
    assert not single, (
        "mammoclf.utils modules used by one part only; move each into the part "
        f"that owns its concept (or explain in GENERIC_SINGLE_USE): {single}"
    )


def test_no_import_cycles():
    cycles = import_cycles()
    assert not cycles, "Import cycles inside mammoclf:\n" + "\n".join(
        " <-> ".join(cycle) for cycle in cycles
    )


def test_storage_sits_directly_above_utils():
    """mammoclf.storage, the one writer of files, imports only the shared parts."""
    found = [
        f"{module} (line {line}) imports {base if name is None else f'{base}.{name}'}"
        for module, path in _modules().items()
        if _part(module) == f"{PACKAGE}.storage"
        for base, name, line in _imports(path, module)
        if _internal(base)
        and _part(base if name is None else f"{base}.{name}")
        not in SHARED_PARTS | {f"{PACKAGE}.storage"}
    ]
    assert _is_package(f"{PACKAGE}.storage")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("shared", sorted(SHARED_PARTS))
def test_shared_parts_exist(shared):
    assert _is_module(shared), f"{shared} is listed as shared but does not exist"


def test_shared_parts_import_no_other_part():
    """utils and exceptions sit below every subpackage, so all may use them."""
    found = []
    for module, path in _modules().items():
        if _part(module) not in SHARED_PARTS:
            continue
        for base, name, line in _imports(path, module):
            full = base if name is None else f"{base}.{name}"
            if _internal(base) and base != PACKAGE and _part(full) not in SHARED_PARTS:
                found.append(f"{module} (line {line}) imports {full}")
    assert not found, "\n".join(found)


def test_every_module_imports_without_docstrings():
    """``python -OO`` strips docstrings: code that edits them must not assume one."""
    import subprocess
    import sys

    modules = sorted(name for name in _modules() if name != f"{PACKAGE}.__main__")
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    completed = subprocess.run(
        [sys.executable, "-OO", "-c", code, *modules],
        capture_output=True,
        text=True,
        cwd=ROOT.parent,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


# Layers that must not import the ones above them (ARCHITECTURE.md): the
# statistics work on arrays, and evaluation reads result objects through
# their public attributes, so neither knows the code that produced them;
# model selection produces the results and knows nothing of their tables.
# (Deprecated aliases use importlib, which only runs when an old name is used.)
FORBIDDEN_UPWARD = {
    f"{PACKAGE}.stats": (f"{PACKAGE}.model_selection", f"{PACKAGE}.evaluation"),
    f"{PACKAGE}.model_selection": (f"{PACKAGE}.evaluation", f"{PACKAGE}.cli"),
    f"{PACKAGE}.evaluation": (f"{PACKAGE}.model_selection", f"{PACKAGE}.cli"),
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_UPWARD))
def test_lower_layers_do_not_import_upper_ones(layer):
    found = []
    for module, path in _modules().items():
        if _part(module) != layer:
            continue
        for base, name, line in _imports(path, module):
            full = base if name is None else f"{base}.{name}"
            if _part(full) in FORBIDDEN_UPWARD[layer]:
                found.append(f"{module} (line {line}) imports {full}")
    assert not found, "\n".join(found)
