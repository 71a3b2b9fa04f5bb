import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import pnmf
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
    # the scales figure shows the resolution: every scale on its own UMAP (kept in the result), not two factors
    assert "scales figure: a UMAP of every scale" in printed
    assert list(result.uns["pnmf"]["umap"]["scales"]) == list(range(8))
    assert all(result.obsm[f"X_pnmf_umap_{t}"].shape == (700, 2) for t in range(8))
    drawn = (tmp_path / "pbmc68k_pnmf_scales.png").read_bytes()
    assert drawn == scales_png(result, "bulk_labels", basis="umap")
    assert drawn != scales_png(result, "bulk_labels", basis="factors")


def scales_png(adata, color=None, **kwargs):
    """The scales figure of a result as ``pnmf run`` and ``pnmf plot`` write it (same size and resolution)."""
    from pnmf._cli._figures import png

    return png(pnmf.pl.scales(adata, color, return_fig=True, **kwargs))


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
    ("umap", "max_cells", "basis"),
    [
        ("auto", None, "umap"),  # 300 cells: a UMAP of every scale
        ("auto", 299, "factors"),  # above the limit: two factors, nothing laid out
        ("always", 299, "umap"),
        ("never", None, "factors"),
    ],
)
def test_run_draws_the_scales_on_umaps_up_to_a_number_of_cells(
    populations, tmp_path, capsys, monkeypatch, umap, max_cells, basis
):
    from pnmf._cli import _figures

    if max_cells is not None:
        monkeypatch.setattr(_figures, "UMAP_MAX_CELLS", max_cells)
    populations.write_h5ad(tmp_path / "in.h5ad")
    target = tmp_path / "o.h5ad"
    argv = ["run", str(tmp_path / "in.h5ad"), "-o", str(target), *FAST_RUN, "--no-leiden", "--umap", umap]
    assert main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    result = ad.read_h5ad(target)
    drawn = (tmp_path / "o_scales.png").read_bytes()
    assert drawn == scales_png(result, basis=basis)
    if basis == "umap":
        assert "scales figure: a UMAP of every scale (pnmf.tl.umap, kept as obsm['X_pnmf_umap_<t>'])" in printed
        assert list(result.uns["pnmf"]["umap"]["scales"]) == [0, 1]
        assert drawn != scales_png(result, basis="factors")
    else:
        assert "umap" not in result.uns["pnmf"]
        assert not [k for k in result.obsm if "umap" in k]
        reason = "above the 299 of --umap auto; --umap always" if umap == "auto" else "(--umap never)"
        assert f"scales figure: two factors {'(300 cells, ' if umap == 'auto' else ''}{reason}" in printed


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
    for command in ("demo", "run", "project", "select-k", "plot"):
        assert command in process.stdout


FAST_RUN = ["--n-comps", "3", "--n-scales", "2", "--max-iter", "5", "--max-sweeps", "1", "--quiet"]


def files_in(folder):
    return sorted(p.name for p in Path(folder).rglob("*") if p.is_file())


def test_one_factor_is_a_valid_run(populations, tmp_path, capsys):
    populations.write_h5ad(tmp_path / "in.h5ad")
    argv = ["run", str(tmp_path / "in.h5ad"), "-o", str(tmp_path / "out" / "o.h5ad"), *FAST_RUN, "--n-comps", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    names = files_in(tmp_path / "out")
    assert "o.h5ad" in names
    assert {f"o_{n}.png" for n in ("persistence", "scales", "loadings", "convergence", "cluster_tree")} <= set(names)
    assert ad.read_h5ad(tmp_path / "out" / "o.h5ad").obsm["X_pnmf_0"].shape[1] == 1


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--color", "nope"], "color='nope' is neither"),
        (["--resolution", "0"], "resolution=0.0 is invalid"),
        (["--max-iter", "0"], "max_iter=0"),
        (["--max-sweeps", "-1"], "max_sweeps=-1"),
        (["--graph-weight", "nan"], "graph_weight=nan"),
        (["--n-jobs", "0"], "n_jobs=0"),
        (["--seed", "-1"], "seed=-1"),
        (["--key-added", "a/b"], "contains '/'"),
        (["--key-added", "neighbors"], "key_added='neighbors' names an entry of adata.uns"),
        (["--use-rep", "X_nope"], "--use-rep 'X_nope' is not in adata.obsm"),
        (["--n-comps", "5000"], "n_comps=5000 is out of range"),
        (["--n-scales", "0"], "n_scales=0"),
    ],
)
def test_every_option_is_checked_before_computing(populations, tmp_path, capsys, extra, match):
    populations.write_h5ad(tmp_path / "in.h5ad")
    out = tmp_path / "out"
    status = main(["run", str(tmp_path / "in.h5ad"), "-o", str(out / "o.h5ad"), *FAST_RUN, *extra])
    assert status == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("pnmf: error:")
    assert len(error.splitlines()) == 1
    assert match in error
    assert not out.exists()  # nothing was written, not even the folder
    assert files_in(tmp_path) == ["in.h5ad"]


@pytest.mark.parametrize("where", ["output_is_a_folder", "figures_under_a_file"])
def test_unwritable_outputs_are_refused_before_computing(populations, tmp_path, capsys, where):
    populations.write_h5ad(tmp_path / "in.h5ad")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    target = ["-o", str(tmp_path / "adir")] if where == "output_is_a_folder" else ["-o", str(tmp_path / "o.h5ad")]
    figures = ["--figures", str(tmp_path / "afile" / "figs")] if where == "figures_under_a_file" else []
    assert main(["run", str(tmp_path / "in.h5ad"), *target, *figures, *FAST_RUN]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("pnmf: error:")
    assert len(error.splitlines()) == 1
    assert "is a folder" in error or "is a file, not a folder" in error
    assert files_in(tmp_path) == ["afile", "in.h5ad"]


def test_debug_shows_the_traceback(populations, tmp_path):
    populations.write_h5ad(tmp_path / "in.h5ad")
    with pytest.raises(pnmf.PnmfValueError, match=r"resolution=0\.0"):
        main(
            [
                "run",
                str(tmp_path / "in.h5ad"),
                "-o",
                str(tmp_path / "o.h5ad"),
                *FAST_RUN,
                "--resolution",
                "0",
                "--debug",
            ]
        )


def test_color_with_missing_values(populations, tmp_path, capsys):
    labels = np.where(np.arange(populations.n_obs) % 5 == 0, None, "a")
    populations.obs["group"] = pd.Categorical(labels)
    populations.write_h5ad(tmp_path / "in.h5ad")
    argv = ["run", str(tmp_path / "in.h5ad"), "-o", str(tmp_path / "o.h5ad"), *FAST_RUN, "--color", "group"]
    assert main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "o_cluster_tree.png").stat().st_size > 10_000


RUNNER = """
import resource, signal, sys
from pnmf.cli import main
limit = int(sys.argv[1])
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.exit(main(sys.argv[2:]))
"""


def run_cli(args, *, limit=0, **kwargs):
    source = str(Path(pnmf.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(limit), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_full_disk_gives_one_line_and_leaves_no_file(populations, tmp_path):
    populations.write_h5ad(tmp_path / "in.h5ad")
    out = tmp_path / "out"
    out.mkdir()
    process = run_cli(["run", str(tmp_path / "in.h5ad"), "-o", str(out / "o.h5ad"), *FAST_RUN], limit=100_000)
    _stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("pnmf: error: File too large")
    assert files_in(out) == []


def test_a_figure_that_does_not_fit_leaves_no_empty_png(tmp_path):
    script = """
import resource, signal, sys
from pathlib import Path
import anndata as ad, numpy as np
from pnmf._cli._files import Signals, write_outputs
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
out = Path(sys.argv[1])
try:
    with Signals() as signals:
        write_outputs({out / "o.h5ad": ad.AnnData(np.ones((5, 3))), out / "o_big.png": b"x" * 500_000}, signals)
except OSError as error:
    print("OSError", error.errno)
"""
    source = str(Path(pnmf.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True, check=False
    )
    assert "OSError 27" in process.stdout, process.stderr
    assert files_in(tmp_path) == []  # neither the .h5ad (renamed only when all succeeded) nor a 0-byte PNG


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_the_write_removes_the_temporary_file(populations, tmp_path, signum, status):
    populations.obsm["bulky"] = np.random.default_rng(0).random((populations.n_obs, 60_000), dtype=np.float32)
    populations.write_h5ad(tmp_path / "in.h5ad")
    out = tmp_path / "out"
    out.mkdir()
    process = run_cli(["run", str(tmp_path / "in.h5ad"), "-o", str(out / "o.h5ad"), *FAST_RUN, "--no-leiden"])
    deadline = time.monotonic() + 600
    while not list(out.glob("*.part")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert list(out.glob("*.part")), "the write never started"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == status, stderr
    assert "interrupted" in stderr
    assert files_in(out) == []


def test_demo_shows_no_scanpy_chatter(tmp_path, capfd):
    assert main(["demo", "--out", str(tmp_path), "--max-iter", "10", "--max-sweeps", "1", "--n-scales", "3"]) == 0
    captured = capfd.readouterr()
    for chatter in ("computing neighbors", "running Leiden", "finished", "computing persistent NMF"):
        assert chatter not in captured.out + captured.err
    assert "n_connected" in captured.out
    assert captured.err.strip() == ""  # the progress display is drawn on terminals only


def test_graph_weight_takes_auto_or_a_number(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", "in.h5ad", "-o", "out.h5ad", "--graph-weight", "strong"])
    assert stop.value.code == 2
    assert "expected 'auto' or a number, got 'strong'" in capsys.readouterr().err


def one_line_error(capsys):
    error = capsys.readouterr().err.strip()
    assert error.startswith("pnmf: error:")
    assert len(error.splitlines()) == 1, error
    return error


@pytest.fixture
def shipped(fitted_base, populations, tmp_path):
    """A fitted reference and a query of new cells, as files."""
    fitted_base.write_h5ad(tmp_path / "reference.h5ad")
    populations.write_h5ad(tmp_path / "query.h5ad")
    return tmp_path


def test_project_writes_the_query_with_the_references_scales(shipped, capsys):
    target = shipped / "out" / "query_pnmf.h5ad"
    argv = ["project", str(shipped / "query.h5ad"), str(shipped / "reference.h5ad"), "-o", str(target), "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "cells embedded at 3 scales" in printed
    result = ad.read_h5ad(target)
    assert list(result.uns["pnmf"]["obsm_keys"]) == ["X_pnmf_0", "X_pnmf_1", "X_pnmf_2"]
    assert result.uns["pnmf"]["projection"]["n_reference_cells"] == 300
    assert "pnmf" not in ad.read_h5ad(shipped / "query.h5ad").uns  # the inputs are untouched
    # and plot draws the projection: no convergence nor persistence figure (nothing was fitted, the barcode is
    # the reference's), the tree from its own clusters
    assert main(["plot", str(target), "--out", str(shipped / "figures"), "--quiet"]) == 0
    assert files_in(shipped / "figures") == [
        f"query_pnmf_{name}.png" for name in ("cluster_tree", "loadings", "scales")
    ]


@pytest.mark.parametrize(
    ("make_args", "match"),
    [
        (lambda d: [str(d / "query.h5ad"), str(d / "missing.h5ad"), "-o", str(d / "o.h5ad")], "does not exist"),
        (lambda d: [str(d / "query.h5ad"), str(d / "reference.h5ad"), "-o", str(d / "reference.h5ad")], "input file"),
        (lambda d: [str(d / "query.h5ad"), str(d / "query.h5ad"), "-o", str(d / "o.h5ad")], "no pnmf result"),
        (lambda d: [str(d / "query.h5ad"), str(d / "reference.h5ad"), "-o", str(d / "o.h5ad"), "--key", "x"], "'x'"),
        (
            lambda d: [str(d / "query.h5ad"), str(d / "reference.h5ad"), "-o", str(d / "o.h5ad"), "--n-neighbors", "0"],
            "n_neighbors=0",
        ),
        (
            lambda d: [str(d / "query.h5ad"), str(d / "reference.h5ad"), "-o", str(d / "o.h5ad"), "--max-missing", "2"],
            "max_missing is a share",
        ),
    ],
)
def test_project_refuses_bad_input_and_writes_nothing(shipped, capsys, make_args, match):
    assert main(["project", *make_args(shipped), "--quiet"]) == 1
    assert match in one_line_error(capsys)
    assert files_in(shipped) == ["query.h5ad", "reference.h5ad"]


SELECT_K_FAST = ["--n-runs", "2", "--n-scales", "2", "--max-iter", "10", "--max-sweeps", "1", "--quiet"]


@pytest.mark.parametrize("out", ["k_dir", "tables/k.csv"])
def test_select_k_writes_the_table_and_its_figure(programs_base, tmp_path, capsys, out):
    programs_base.write_h5ad(tmp_path / "in.h5ad")
    argv = ["select-k", str(tmp_path / "in.h5ad"), "--k", "2", "3", "--out", str(tmp_path / out), *SELECT_K_FAST]
    assert main(argv) == 0, capsys.readouterr().err
    assert "suggested k: " in capsys.readouterr().out
    table_path = tmp_path / out if out.endswith(".csv") else tmp_path / out / "in_k_selection.csv"
    table = pd.read_csv(table_path)
    assert table["n_comps"].tolist() == [2, 3]
    assert table["suggested"].sum() == 1
    assert table_path.with_suffix(".png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--k", "3"], "compares at least two"),
        (["--k", "3", "3"], "repeats values"),
        (["--k", "2", "3", "--n-runs", "1"], "n_runs=1"),
        (["--k", "2", "3", "--subsample", "1.5"], "subsample=1.5"),
        (["--k", "2", "5000"], "n_comps=5000 is out of range"),
        (["--k", "2", "3", "--layer", "nope"], "layer='nope'"),
        (["--k", "2", "3", "--seed", "-1"], "seed=-1"),
    ],
)
def test_select_k_refuses_bad_input_and_writes_nothing(programs_base, tmp_path, capsys, extra, match):
    programs_base.write_h5ad(tmp_path / "in.h5ad")
    assert main(["select-k", str(tmp_path / "in.h5ad"), "--out", str(tmp_path / "k"), *SELECT_K_FAST, *extra]) == 1
    assert match in one_line_error(capsys)
    assert files_in(tmp_path) == ["in.h5ad"]


def test_plot_draws_the_five_figures_of_an_existing_result(fitted_base, tmp_path, capsys):
    fitted_base.write_h5ad(tmp_path / "fit.h5ad")
    before = (tmp_path / "fit.h5ad").read_bytes()
    argv = ["plot", str(tmp_path / "fit.h5ad"), "--color", "cell_type", "--out", str(tmp_path / "figs"), "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    names = ("cluster_tree", "convergence", "loadings", "persistence", "scales")
    assert files_in(tmp_path / "figs") == [f"fit_{name}.png" for name in names]
    assert all((tmp_path / "figs" / f"fit_{name}.png").stat().st_size > 10_000 for name in names)
    assert (tmp_path / "fit.h5ad").read_bytes() == before  # clustered in memory for the tree, the file unchanged
    assert main([*argv, "--no-leiden", "--out", str(tmp_path / "no_tree")]) == 0
    assert "fit_cluster_tree.png" not in files_in(tmp_path / "no_tree")


def test_plot_draws_the_scales_on_the_results_umaps_or_lays_them_out_in_memory(fitted_base, tmp_path, capsys):
    fitted_base.write_h5ad(tmp_path / "fit.h5ad")
    argv = ["plot", str(tmp_path / "fit.h5ad"), "--color", "cell_type", "--no-leiden", "--quiet"]
    # no UMAP in the result: a UMAP of every scale is laid out in memory (the file is not changed)
    assert main([*argv, "--out", str(tmp_path / "auto")]) == 0, capsys.readouterr().err
    assert "scales figure: a UMAP of every scale (pnmf.tl.umap)" in capsys.readouterr().out
    laid_out = fitted_base.copy()
    pnmf.tl.umap(laid_out, random_state=0)
    drawn = (tmp_path / "auto" / "fit_scales.png").read_bytes()
    assert drawn == scales_png(laid_out, "cell_type", basis="umap")
    assert drawn != scales_png(laid_out, "cell_type", basis="factors")
    assert "umap" not in ad.read_h5ad(tmp_path / "fit.h5ad").uns["pnmf"]
    # --umap never: two factors
    assert main([*argv, "--umap", "never", "--out", str(tmp_path / "never")]) == 0
    assert "scales figure: two factors (--umap never)" in capsys.readouterr().out
    assert (tmp_path / "never" / "fit_scales.png").read_bytes() == scales_png(laid_out, "cell_type", basis="factors")
    # the UMAPs a result holds are drawn as they are: here only the coarsest scale's
    one = fitted_base.copy()
    pnmf.tl.umap(one, which=[-1], random_state=3)
    one.write_h5ad(tmp_path / "one.h5ad")
    assert main([*argv[:1], str(tmp_path / "one.h5ad"), *argv[2:], "--out", str(tmp_path / "one")]) == 0
    assert "scales figure: a UMAP of scale 2 (pnmf.tl.umap)" in capsys.readouterr().out
    assert (tmp_path / "one" / "one_scales.png").read_bytes() == scales_png(one, "cell_type", basis="umap")


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--key", "other"], "No pnmf result under key 'other'"),
        (["--color", "nope"], "color='nope' is neither"),
        (["--resolution", "0"], "resolution=0.0 is invalid"),
        (["--seed", "-1"], "seed=-1"),
    ],
)
def test_plot_refuses_bad_input_and_writes_nothing(fitted_base, tmp_path, capsys, extra, match):
    fitted_base.write_h5ad(tmp_path / "fit.h5ad")
    assert main(["plot", str(tmp_path / "fit.h5ad"), "--out", str(tmp_path / "figs"), "--quiet", *extra]) == 1
    assert match in one_line_error(capsys)
    assert files_in(tmp_path) == ["fit.h5ad"]


@pytest.mark.parametrize("command", ["demo", "run", "project", "select-k", "plot"])
def test_every_subcommand_shows_examples(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    printed = capsys.readouterr().out
    assert "examples:" in printed
    assert f"pnmf {command} " in printed.split("examples:")[1]


def test_run_integrates_batches_and_refuses_a_bad_batch_column(tmp_path, capsys):
    adata = pnmf.datasets.nested_populations(300, 300, n_types=3, n_subtypes=1, n_batches=2, random_state=0)
    adata.obs["donor_id"] = np.arange(adata.n_obs) % 2  # numbers, not names
    adata.write_h5ad(tmp_path / "in.h5ad")
    target = tmp_path / "out.h5ad"
    args = ["run", str(tmp_path / "in.h5ad"), "-o", str(target), *FAST_RUN, "--no-leiden", "--umap", "never"]
    assert main([*args, "--batch-key", "donor_id"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("pnmf: error:")
    assert "categorical or string" in error
    assert files_in(tmp_path) == ["in.h5ad"]
    assert main([*args, "--batch-key", "batch", "--color", "batch"]) == 0
    result = ad.read_h5ad(target)
    assert result.uns["pnmf"]["batches"]["names"].tolist() == ["batch_0", "batch_1"]
    assert result.uns["pnmf"]["params"]["batch_key"] == "batch"
