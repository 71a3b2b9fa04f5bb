import os
import stat
import subprocess
import sys
from pathlib import Path

import anndata as ad
import pytest

from pnmf.cli import main


def test_demo_writes_result_and_figures(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--quiet", "--max-iter", "40"]) == 0
    printed = capsys.readouterr().out
    assert "n_connected" in printed
    assert "recommended" in printed
    assert "n_clusters" in printed
    result = ad.read_h5ad(tmp_path / "pbmc68k_pnmf.h5ad")
    assert len(result.uns["pnmf"]["obsm_keys"]) == 8
    assert len(result.uns["pnmf"]["clusters"]["leiden"]["obs_keys"]) == 8
    for name in ("persistence", "scales", "loadings", "convergence", "cluster_tree"):
        assert (tmp_path / f"pbmc68k_pnmf_{name}.png").stat().st_size > 10_000, name


def test_run_on_a_file(populations, tmp_path, capsys):
    source = tmp_path / "in.h5ad"
    populations.write_h5ad(source)
    target = tmp_path / "out" / "result.h5ad"
    status = main(
        [
            "run",
            str(source),
            "-o",
            str(target),
            "--n-comps",
            "4",
            "--n-scales",
            "3",
            "--quiet",
            "--key-added",
            "run",
            "--no-leiden",
            "--max-sweeps",
            "2",
            "--max-iter",
            "15",
        ]
    )
    assert status == 0
    result = ad.read_h5ad(target)
    assert list(result.uns["run"]["obsm_keys"]) == ["X_run_0", "X_run_1", "X_run_2"]
    assert result.uns["run"]["params"]["max_sweeps"] == 2
    assert result.uns["run"]["params"]["max_iter"] == 15
    assert result.uns["run"]["convergence"]["n_sweeps"] <= 2
    printed = capsys.readouterr().out
    assert "coupled sweeps (" in printed
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert (target.parent / "result_persistence.png").exists()
    assert not (target.parent / "result_cluster_tree.png").exists()
    # the input is untouched
    assert "run" not in ad.read_h5ad(source).uns


@pytest.mark.parametrize(
    ("make_args", "match"),
    [
        (lambda d: ["run", str(d / "missing.h5ad"), "-o", str(d / "o.h5ad")], "does not exist"),
        (lambda d: ["run", str(d / "corrupt.h5ad"), "-o", str(d / "o.h5ad")], "cannot read"),
        (lambda d: ["run", str(d / "in.h5ad"), "-o", str(d / "in.h5ad")], "is the input file"),
        (lambda d: ["run", str(d / "in.h5ad"), "-o", str(d / "o.h5ad"), "--layer", "nope"], "layer='nope'"),
        (lambda d: ["run", str(d / "in.h5ad"), "-o", str(d / "o.h5ad"), "--n-comps", "0"], "n_comps=0"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(populations, tmp_path, capsys, make_args, match):
    populations.write_h5ad(tmp_path / "in.h5ad")
    (tmp_path / "corrupt.h5ad").write_bytes(b"not an hdf5 file")
    before = (tmp_path / "in.h5ad").read_bytes()
    assert main(make_args(tmp_path)) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("pnmf: error:")
    assert match in error
    assert len(error.splitlines()) == 1
    assert (tmp_path / "in.h5ad").read_bytes() == before
    assert not (tmp_path / "o.h5ad").exists()


def test_bad_option_is_a_usage_error():
    process = subprocess.run([sys.executable, "-m", "pnmf.cli", "run"], capture_output=True, text=True, check=False)
    assert process.returncode == 2
    assert "usage:" in process.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "pnmf"
    process = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert process.returncode == 0
    assert "demo" in process.stdout
    assert "run" in process.stdout
