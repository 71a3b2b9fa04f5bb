"""Signature and documentation conventions of the public API (scanpy's shape)."""

import inspect
import re

import pytest

import pnmf

PUBLIC = [
    (module_name, name, getattr(getattr(pnmf, module_name), name))
    for module_name in ("tl", "pl", "get", "datasets")
    for name in getattr(pnmf, module_name).__all__
]
TOOLS = [(name, fn) for module_name, name, fn in PUBLIC if module_name == "tl"]


@pytest.mark.parametrize(("name", "fn"), TOOLS, ids=[n for n, _ in TOOLS])
def test_tool_signature(name, fn):
    params = list(inspect.signature(fn).parameters.values())
    assert params[0].name == "adata"
    positional = [p for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert len(positional) <= 3, f"{name} has more than 3 positional parameters"
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[len(positional) :])
    names = [p.name for p in params]
    if "copy" in names:
        assert names[-1] == "copy"
        assert {"key_added", "key"} & set(names), f"{name} must let the user name where results go"
    for p in params:
        assert not isinstance(p.default, list | dict | set), f"{name}({p.name}) has a mutable default"


@pytest.mark.parametrize(("module_name", "name", "fn"), PUBLIC, ids=[f"{m}.{n}" for m, n, _ in PUBLIC])
def test_public_functions_are_documented(module_name, name, fn):
    doc = inspect.getdoc(fn)
    assert doc, f"{module_name}.{name} has no docstring"
    first = doc.splitlines()[0]
    assert first.endswith("."), f"{module_name}.{name}: summary line should end with a period"
    params = [p for p in inspect.signature(fn).parameters if p not in ("self",)]
    if len(params) > 1:
        assert "Examples" in doc or module_name == "get", f"{module_name}.{name} has no Examples section"


@pytest.mark.parametrize(("module_name", "name", "fn"), PUBLIC, ids=[f"{m}.{n}" for m, n, _ in PUBLIC])
def test_shared_docstring_snippets_are_filled(module_name, name, fn):
    from pnmf._docs import SNIPPETS

    for snippet in SNIPPETS:
        assert not re.search(rf"^ *\{{{snippet}\}}$", fn.__doc__, flags=re.MULTILINE), (
            f"{module_name}.{name}: {{{snippet}}} left unfilled"
        )
    params = inspect.signature(fn).parameters
    if "key" in params:
        assert re.search(r"``key_added`` of the ``tl\.\w+`` result", fn.__doc__), f"{module_name}.{name}: document key"


def test_plot_functions_follow_scanpy_conventions():
    for name in pnmf.pl.__all__:
        params = inspect.signature(getattr(pnmf.pl, name)).parameters
        for required in ("ax", "show", "return_fig"):
            assert required in params, f"pl.{name} lacks {required}"
        assert "save" not in params


def test_py_typed_is_shipped():
    from importlib.resources import files

    assert files("pnmf").joinpath("py.typed").is_file()
