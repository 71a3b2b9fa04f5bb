"""The layers of the package and who may import whom (docs/developer.md draws the same map)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "pnmf"

#: Modules of the shared layer: no AnnData reading or writing logic of a tool, importable from anywhere.
SHARED = {"pnmf._errors", "pnmf._keys", "pnmf._docs", "pnmf._validation", "pnmf._options"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, known: set[str]) -> set[str]:
    """Every module a file imports, anywhere in it (local imports too), relative imports resolved.

    ``from x import y`` counts as importing ``x``, and ``x.y`` too when that is a module of ``known``.
    """
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names if f"{stem}.{alias.name}" in known)
    return found


PATHS = sorted(PACKAGE.rglob("*.py"))
NAMES = {module_name(path) for path in PATHS}
MODULES = {module_name(path): imports(path, NAMES) for path in PATHS}


def within(modules: set[str], prefix: str) -> set[str]:
    return {m for m in modules if m == prefix or m.startswith(f"{prefix}.")}


def layer(prefix: str) -> dict[str, set[str]]:
    return {name: found for name, found in MODULES.items() if name == prefix or name.startswith(f"{prefix}.")}


@pytest.mark.parametrize(("name", "found"), layer("pnmf._core").items())
def test_core_is_pure_numerics(name, found):
    """``_core``: NumPy, SciPy, scikit-learn, gudhi, numba; no AnnData, scanpy, pandas or plotting; nothing above it."""
    for library in ("anndata", "scanpy", "pandas", "matplotlib"):
        assert not within(found, library), f"{name} imports {library}"
    above = {m for m in within(found, "pnmf") if not m.startswith("pnmf._core")} - SHARED
    assert not above, f"{name} imports {sorted(above)} from above _core"


SHARED_LAYER = {
    name: found
    for name, found in MODULES.items()
    if name.count(".") == 1
    and name.split(".")[1]
    in {"_errors", "_keys", "_docs", "_validation", "_options", "_palette", "_sections", "_manifest"}
}


@pytest.mark.parametrize(("name", "found"), SHARED_LAYER.items())
def test_the_shared_layer_imports_no_layer_above_or_below(name, found):
    for other in ("pnmf._core", "pnmf.tl", "pnmf.get", "pnmf.pl", "pnmf.datasets", "pnmf.cli"):
        assert not within(found, other), f"{name} imports {other}"


@pytest.mark.parametrize(("name", "found"), layer("pnmf.tl").items())
def test_tools_never_import_plots_or_getters(name, found):
    assert not within(found, "pnmf.pl"), f"{name} imports pnmf.pl"
    assert not within(found, "pnmf.get"), f"{name} imports pnmf.get"
    assert not within(found, "matplotlib"), f"{name} imports matplotlib"


@pytest.mark.parametrize(("name", "found"), layer("pnmf.get").items())
def test_getters_only_read(name, found):
    """``get`` reads results through the manifest: no tools, no plots, no numerics."""
    for other in ("pnmf.tl", "pnmf.pl", "pnmf._core", "matplotlib"):
        assert not within(found, other), f"{name} imports {other}"


@pytest.mark.parametrize(("name", "found"), layer("pnmf.pl").items())
def test_plots_read_from_getters_and_only_draw(name, found):
    """``pl`` asks ``get`` for tables: it never computes with ``_core``, runs a tool or reads the manifest itself."""
    for other in ("pnmf.tl", "pnmf._core", "pnmf._manifest", "pnmf._sections"):
        assert not within(found, other), f"{name} imports {other}"


def test_files_use_tools_but_never_plots():
    found = MODULES["pnmf.io"]
    for other in ("pnmf.pl", "pnmf._core", "matplotlib"):
        assert not within(found, other), f"pnmf.io imports {other}"


@pytest.mark.parametrize(("name", "found"), layer("pnmf.datasets").items())
def test_datasets_stand_alone(name, found):
    above = within(found, "pnmf") - within(found, "pnmf.datasets") - SHARED
    assert not above, f"{name} imports {sorted(above)}"


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_command_line_starts_without_the_heavy_libraries():
    loaded = loaded_after("import pnmf.cli")
    for library in ("anndata", "scanpy", "gudhi", "numba", "matplotlib", "sklearn", "pandas"):
        assert library not in loaded, f"import pnmf.cli loads {library}"


def test_core_loads_no_anndata_scanpy_or_matplotlib():
    core = " ".join(f"import {name};" for name in layer("pnmf._core"))
    loaded = loaded_after(core.rstrip(";"))
    for library in ("anndata", "scanpy", "matplotlib"):
        assert library not in loaded, f"importing pnmf._core loads {library}"
