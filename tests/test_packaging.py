"""Packaging: the version from the installed metadata, and the files that repeat it agree."""

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

import pnmf
from pnmf.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_version_comes_from_the_installed_metadata():
    assert pnmf.__version__ == version("persistent-nmf")
    assert re.fullmatch(r"\d+\.\d+\.\d+([.+-]?\w+)*", pnmf.__version__)
    assert "__version__" in dir(pnmf)


def test_the_command_line_shows_the_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"pnmf {pnmf.__version__}"


def test_citation_changelog_and_pyproject_name_the_same_release():
    released = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(released)}$", citation, flags=re.MULTILINE)
    assert "arXiv:2602.22536" in citation
    headings = re.findall(r"^## (.+)$", (ROOT / "docs" / "changelog.md").read_text(), flags=re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert headings[1].startswith(f"{released} ")
