"""Sphinx configuration for the pnmf documentation."""

from importlib.metadata import version as package_version

project = "pnmf"
author = "The pnmf developers"
copyright = "2026, the pnmf developers"
release = package_version("persistent-nmf")
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_custom_sections = [("Sets", "params_style")]

myst_enable_extensions = ["dollarmath", "colon_fence"]
nb_execution_mode = "off"  # the tutorials are committed with their outputs; the test suite executes them
nb_merge_streams = True

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}  # .rst first: autosummary writes its stubs with the first suffix
exclude_patterns = ["_build", "**.ipynb_checkpoints", "tutorials/README.md"]

html_theme = "sphinx_book_theme"
html_title = "pnmf"
html_theme_options = {"show_toc_level": 2}
