"""The folder tree is the layer table (timbre_jax.layers): every import of the package,
of timbre_jax_extract and of the benchmarks is read from the source (ast) and checked
against it.  Each check is also run on a small made-up tree, so that it can fail."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from timbre_jax.layers import LAYERS, LAZY_MARK, layer_of, name_of

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"timbre_jax": ROOT / "timbre_jax", "timbre_jax_extract": ROOT / "extract"}
MAX_LINES = 400
MAX_ROOT_MODULES = 6


def module_name(path: Path, package: str, folder: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> dict[str, Path]:
    """Dotted name -> file, for every module of the two packages."""
    return {module_name(p, pkg, folder): p for pkg, folder in PACKAGES.items() for p in sorted(folder.rglob("*.py"))}


class Import:
    """One imported internal name: the module it comes from, the name (None for the
    module itself), whether it sits in a function body, and its source line."""

    def __init__(self, module, name, lazy, line, lineno):
        self.module, self.name, self.lazy, self.line, self.lineno = module, name, lazy, line, lineno


def imports_of(text: str, module: str, is_package: bool, modules) -> list[Import]:
    """Every import of an internal module in ``text``, resolved to absolute names;
    ``from a import b`` names module ``a.b`` when that is a module."""
    tree, lines = ast.parse(text), text.splitlines()
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        lazy, line = id(node) in in_function, lines[node.lineno - 1]
        if isinstance(node, ast.Import):
            found += [Import(a.name, None, lazy, line, node.lineno) for a in node.names]
            continue
        base = node.module or ""
        if node.level:
            here = module.split(".") if is_package else module.split(".")[:-1]
            here = here[:len(here) - node.level + 1]
            base = ".".join(here + ([node.module] if node.module else []))
        for a in node.names:
            sub = f"{base}.{a.name}"
            found.append(Import(sub, None, lazy, line, node.lineno) if sub in modules
                         else Import(base, a.name, lazy, line, node.lineno))
    return [i for i in found if i.module.split(".")[0] in PACKAGES]


def graph(files: dict[str, Path]) -> dict[str, list[Import]]:
    return {m: imports_of(p.read_text(), m, p.name == "__init__.py", files) for m, p in files.items()}


def layer_violations(imports: dict[str, list[Import]]) -> list[str]:
    bad = []
    for module, found in imports.items():
        for i in found:
            if layer_of(i.module) > layer_of(module):
                bad.append(f"{module} ({name_of(layer_of(module))}) imports {i.module} "
                           f"({name_of(layer_of(i.module))}), a layer above")
            if i.module.startswith("timbre_jax_extract") and not module.startswith(("timbre_jax_extract",
                                                                                       "timbre_jax.cli")):
                bad.append(f"{module} imports {i.module}: only the command line crosses the torch boundary")
    return bad


def cycles(imports: dict[str, list[Import]]) -> list[list[str]]:
    """The import cycles between modules (a package's ``__init__`` importing its own
    submodules to re-export them is not a cycle of the submodules)."""
    edges = {m: sorted({i.module for i in found if i.module in imports and i.module != m
                        and not m.startswith(i.module + ".")})
             for m, found in imports.items()}
    found, state, stack = [], {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in edges[m]:
            if state.get(n) == 1:
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    return found


def unmarked_lazy(imports: dict[str, list[Import]]) -> list[str]:
    return [f"{m}:{i.lineno}: `{i.line.strip()}` sits in a function body without a `{LAZY_MARK} reason` comment"
            for m, found in imports.items() for i in found if i.lazy and LAZY_MARK not in i.line]


def private_uses(text: str, where: str) -> list[str]:
    """``from x import _y`` of an internal module, and ``module._y`` where ``module`` was
    imported from an internal package."""
    tree, bad, internal = ast.parse(text), [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in PACKAGES):
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    bad.append(f"{where}:{node.lineno}: imports the private {a.name} from {node.module}")
                internal.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            internal.update((a.asname or a.name).split(".")[0] for a in node.names
                            if a.name.split(".")[0] in PACKAGES)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in internal):
            bad.append(f"{where}:{node.lineno}: uses the private {node.value.id}.{node.attr}")
    return bad


FILES = source_files()
IMPORTS = graph(FILES)


def test_every_module_is_in_a_layer_and_imports_only_its_own_or_lower_layers():
    assert [m for m in FILES if not _has_layer(m)] == []
    assert layer_violations(IMPORTS) == []


def _has_layer(module: str) -> bool:
    try:
        layer_of(module)
    except ValueError:
        return False
    return True


def test_no_import_cycle():
    assert cycles(IMPORTS) == []


def test_an_import_in_a_function_body_says_why_it_is_lazy():
    assert unmarked_lazy(IMPORTS) == []


def test_no_private_name_crosses_a_module():
    bad = []
    for path in [*FILES.values(), *sorted((ROOT / "benchmarks").glob("*.py")), *sorted((ROOT / "tests").glob("*.py"))]:
        bad += private_uses(path.read_text(), str(path.relative_to(ROOT)))
    assert bad == []


def test_the_tree_stays_small_at_the_root_and_in_each_module():
    root = sorted(p.stem for p in (ROOT / "timbre_jax").glob("*.py") if p.name != "__init__.py")
    assert len(root) <= MAX_ROOT_MODULES, root
    long = {str(p.relative_to(ROOT)): n for p in FILES.values() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_package_folder_goes_into_the_wheel():
    """Users install a wheel: a folder of modules missing from pyproject.toml's package
    list would be missing there (an editable install hides it)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {m for m, p in FILES.items() if p.name == "__init__.py"}
    assert folders == listed


def test_docs_show_the_layer_table():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = [prefix for _, prefixes in LAYERS for prefix in prefixes if f"`{prefix}" not in text]
    assert missing == []


# The checks themselves, on made-up modules, so that each can fail.

def _made_up(sources: dict[str, str]) -> dict[str, list[Import]]:
    return {m: imports_of(s, m, False, set(sources)) for m, s in sources.items()}


def test_the_checks_catch_an_upward_import_a_cycle_a_bare_lazy_import_and_a_private_name():
    upward = _made_up({"timbre_jax.core.pearson": "from timbre_jax.analyses import null\n",
                       "timbre_jax.analyses.null": ""})
    assert layer_violations(upward) == ["timbre_jax.core.pearson (core) imports timbre_jax.analyses.null "
                                        "(analyses), a layer above"]
    loop = _made_up({"timbre_jax.data.a": "from timbre_jax.data import b\n",
                     "timbre_jax.data.b": "def f():\n    from timbre_jax.data import a  # lazy: test\n"})
    assert cycles(loop) == [["timbre_jax.data.a", "timbre_jax.data.b", "timbre_jax.data.a"]]
    bare = _made_up({"timbre_jax.fit.x": "def f():\n    from timbre_jax.core import pearson\n",
                     "timbre_jax.core.pearson": ""})
    assert len(unmarked_lazy(bare)) == 1
    torch = _made_up({"timbre_jax.analyses.x": "import timbre_jax_extract\n", "timbre_jax_extract": ""})
    assert any("torch boundary" in line for line in layer_violations(torch))
    assert private_uses("from timbre_jax.plots import style\nstyle._hidden()\n", "x.py") == [
        "x.py:2: uses the private style._hidden"]
    assert private_uses("from timbre_jax.core.pearson import _secret\n", "x.py") == [
        "x.py:1: imports the private _secret from timbre_jax.core.pearson"]


@pytest.mark.parametrize("module", ["timbre_jax.core.pearson", "timbre_jax.cli.parser", "timbre_jax_extract.base",
                                    "timbre_jax", "timbre_jax.errors"])
def test_known_modules_sit_in_their_layers(module):
    expected = {"timbre_jax.core.pearson": "core", "timbre_jax.cli.parser": "cli", "timbre_jax_extract.base": "extract",
                "timbre_jax": "face", "timbre_jax.errors": "foundation"}[module]
    assert name_of(layer_of(module)) == expected
