from itertools import pairwise

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from sklearn.metrics import adjusted_rand_score

import pnmf
from pnmf.datasets import nested_populations


@pytest.fixture(scope="module")
def separated_base():
    """600 cells of 3 well-separated types (2 subtypes each) that persistence sets apart, fitted on 4 scales."""
    adata = nested_populations(600, 400, n_types=3, n_subtypes=2, fold_change=16.0, random_state=1)
    sc.pp.pca(adata, n_comps=10, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=10, random_state=0)
    pnmf.tl.pnmf(adata, 5, n_scales=4, max_iter=40, max_sweeps=2)
    return adata


def _holders(labels: pd.Series, populations: np.ndarray) -> list[int]:
    """The population holding more than half of each cluster's cells, -1 where none does."""
    held = []
    for cluster in labels.cat.categories:
        inside = populations[(labels == cluster).to_numpy()]
        values, counts = np.unique(inside[inside >= 0], return_counts=True)
        held.append(int(values[counts.argmax()]) if len(values) and 2 * counts.max() > len(inside) else -1)
    return held


def test_leiden_writes_one_column_per_scale_and_a_summary(fitted):
    adata = fitted.copy()
    pnmf.tl.leiden(adata, 0.5)
    summary = adata.uns["pnmf"]["clusters"]["leiden"]
    assert list(summary["obs_keys"]) == ["pnmf_leiden_0", "pnmf_leiden_1", "pnmf_leiden_2"]
    for t, obs_key in enumerate(summary["obs_keys"]):
        labels = adata.obs[obs_key]
        assert labels.dtype == "category"
        assert summary["n_clusters"][t] == labels.nunique()
        assert len(adata.uns[f"{obs_key}_colors"]) == labels.nunique()
    expected = [adjusted_rand_score(adata.obs[a], adata.obs[b]) for a, b in pairwise(summary["obs_keys"])]
    np.testing.assert_allclose(summary["ari_consecutive"], expected)


def test_leiden_recovers_the_synthetic_cell_types(fitted):
    adata = pnmf.tl.leiden(fitted, 0.3, copy=True)
    scores = [
        adjusted_rand_score(adata.obs["cell_type"], adata.obs[k])
        for k in adata.uns["pnmf"]["clusters"]["leiden"]["obs_keys"]
    ]
    assert max(scores) > 0.5


def test_leiden_is_reproducible_and_seeded(fitted):
    first = pnmf.tl.leiden(fitted, 1.0, copy=True)
    second = pnmf.tl.leiden(fitted, 1.0, copy=True)
    assert (first.obs["pnmf_leiden_1"] == second.obs["pnmf_leiden_1"]).all()
    assert "clusters" not in fitted.uns["pnmf"]


def test_two_clusterings_coexist_and_pnmf_rerun_removes_them(fitted):
    adata = fitted.copy()
    pnmf.tl.leiden(adata, 0.5, key_added="coarse")
    pnmf.tl.leiden(adata, 2.0, key_added="fine")
    assert set(adata.uns["pnmf"]["clusters"]) == {"coarse", "fine"}
    assert (
        adata.uns["pnmf"]["clusters"]["fine"]["n_clusters"].sum()
        > adata.uns["pnmf"]["clusters"]["coarse"]["n_clusters"].sum()
    )
    pnmf.tl.pnmf(adata, 5, n_scales=2, max_iter=10, max_sweeps=0)
    assert not [c for c in adata.obs.columns if c.startswith("pnmf_")]
    assert not [k for k in adata.uns if k.startswith("pnmf_") and k.endswith("_colors")]


def test_leiden_round_trip(fitted, tmp_path):
    adata = fitted.copy()
    pnmf.tl.leiden(adata)
    adata.write_h5ad(tmp_path / "a.h5ad")
    loaded = ad.read_h5ad(tmp_path / "a.h5ad")
    nodes, edges = pnmf.get.cluster_tree(loaded)
    original_nodes, original_edges = pnmf.get.cluster_tree(adata)
    assert nodes.equals(original_nodes)
    np.testing.assert_allclose(edges["in_prop"], original_edges["in_prop"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"resolution": 0}, ValueError, "resolution=0.0 is invalid"),
        ({"key": "missing"}, KeyError, "run pnmf.tl.pnmf"),
        ({"n_neighbors": 1}, ValueError, "n_neighbors=1 is out of range"),
        ({"key_added": "a/b"}, ValueError, "contains '/'"),
    ],
)
def test_leiden_errors_leave_adata_untouched(fitted, kwargs, error, match):
    adata = fitted.copy()
    columns = list(adata.obs.columns)
    with pytest.raises(error, match=match):
        pnmf.tl.leiden(adata, **kwargs)
    assert list(adata.obs.columns) == columns
    assert "clusters" not in adata.uns["pnmf"]


def test_nested_clusterings_form_a_tree_that_coarsens(fitted):
    adata = pnmf.tl.leiden(fitted, 2.0, reassign=False, copy=True)
    summary = adata.uns["pnmf"]["clusters"]["leiden"]
    assert summary["params"]["method"] == "nested"
    assert not summary["params"]["reassign"]
    counts = summary["n_clusters"]
    assert all(b <= a for a, b in pairwise(counts))
    assert counts[-1] < counts[0]
    np.testing.assert_array_equal(summary["nesting"], 1.0)
    _, edges = pnmf.get.cluster_tree(adata)
    # every finer cluster has exactly one parent
    assert edges.groupby("child").size().max() == 1
    np.testing.assert_allclose(edges["in_prop"], 1.0)


def test_reassigned_cells_find_the_types_that_coarse_scales_separate(fitted):
    tree = pnmf.tl.leiden(fitted, 3.0, reassign=False, copy=True)
    voted = pnmf.tl.leiden(fitted, 3.0, copy=True)
    summary = voted.uns["pnmf"]["clusters"]["leiden"]
    tree_summary = tree.uns["pnmf"]["clusters"]["leiden"]
    assert summary["params"]["reassign"]
    # the moved cells are moved at every finer scale too: the levels still form a tree
    np.testing.assert_array_equal(summary["nesting"], 1.0)
    _, edges = pnmf.get.cluster_tree(voted)
    np.testing.assert_allclose(edges["in_prop"], 1.0)
    assert all(b <= a for a, b in pairwise(summary["n_clusters"]))
    assert (summary["n_clusters"] <= tree_summary["n_clusters"]).all()
    # few cells moved, and toward the cell types at the coarsest scale
    finest = summary["obs_keys"][0]
    kept = pd.crosstab(tree.obs[finest], voted.obs[finest]).max(axis=1).sum() / fitted.n_obs
    assert 0.8 < kept < 1.0
    coarsest = summary["obs_keys"][-1]
    assert adjusted_rand_score(fitted.obs["cell_type"], voted.obs[coarsest]) > adjusted_rand_score(
        fitted.obs["cell_type"], tree.obs[coarsest]
    )


def test_nested_clusters_are_numbered_by_size_in_numeric_order(fitted):
    adata = pnmf.tl.leiden(fitted, 3.0, copy=True)
    for obs_key in adata.uns["pnmf"]["clusters"]["leiden"]["obs_keys"]:
        labels = adata.obs[obs_key]
        assert list(labels.cat.categories) == [str(i) for i in range(len(labels.cat.categories))]
        sizes = labels.value_counts(sort=False).reindex(labels.cat.categories).to_numpy()
        assert (np.diff(sizes) <= 0).all()


def test_clusters_that_one_persistent_population_holds_are_joined(separated_base):
    # a tiny bar: the separations alone merge (almost) nothing, so what merges is the populations' doing
    adata = pnmf.tl.leiden(separated_base, 2.0, separation=0.01, reassign=False, copy=True)
    populations = adata.obsm["pnmf_populations"]
    summary = adata.uns["pnmf"]["clusters"]["leiden"]
    assert adata.uns["pnmf"]["n_groups"][-1] == 3
    for t, obs_key in enumerate(summary["obs_keys"]):
        held = [h for h in _holders(adata.obs[obs_key], populations[:, t]) if h >= 0]
        assert len(held) == len(set(held))  # no population holds two clusters
    assert summary["n_clusters"][-1] == 3
    assert adjusted_rand_score(adata.obs["cell_type"], adata.obs[summary["obs_keys"][-1]]) == 1.0
    # a result without populations (written before they were): the separations alone
    older = separated_base.copy()
    del older.obsm["pnmf_populations"], older.uns["pnmf"]["populations"]
    pnmf.tl.leiden(older, 2.0, separation=0.01, reassign=False)
    assert older.uns["pnmf"]["clusters"]["leiden"]["n_clusters"][-1] > 3


@pytest.mark.parametrize(
    ("damage", "error", "match"),
    [
        (lambda a: a.obsm.pop("pnmf_populations"), KeyError, r"populations adata.obsm\['pnmf_populations'\].*missing"),
        (
            lambda a: a.obsm.__setitem__("pnmf_populations", np.zeros((a.n_obs, 2), dtype=np.int32)),
            ValueError,
            r"shape \(600, 2\), not the cells × 4 integers",
        ),
        (
            lambda a: a.obsm.__setitem__("pnmf_populations", np.zeros((a.n_obs, 4))),
            ValueError,
            "of dtype float64",
        ),
    ],
)
def test_missing_or_damaged_populations_are_named_and_adata_untouched(separated_base, damage, error, match):
    adata = separated_base.copy()
    damage(adata)
    with pytest.raises(error, match=match):
        pnmf.tl.leiden(adata)
    assert "clusters" not in adata.uns["pnmf"]
    assert not [c for c in adata.obs.columns if c.startswith("pnmf_leiden")]


def test_a_larger_separation_merges_more(fitted):
    loose = pnmf.tl.leiden(fitted, 2.0, separation=0.5, copy=True)
    strict = pnmf.tl.leiden(fitted, 2.0, separation=4.0, copy=True)
    assert (
        strict.uns["pnmf"]["clusters"]["leiden"]["n_clusters"].sum()
        < loose.uns["pnmf"]["clusters"]["leiden"]["n_clusters"].sum()
    )


def test_independent_method_clusters_every_scale_on_its_own(fitted):
    adata = pnmf.tl.leiden(fitted, 1.0, method="independent", copy=True)
    summary = adata.uns["pnmf"]["clusters"]["leiden"]
    assert summary["params"]["method"] == "independent"
    assert len(summary["nesting"]) == len(summary["obs_keys"]) - 1


def test_unknown_method_is_refused(fitted):
    with pytest.raises(ValueError, match="method='tree' is not supported"):
        pnmf.tl.leiden(fitted, method="tree")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"copy": "yes"}, TypeError, "copy must be True or False"),
        ({"random_state": -1}, ValueError, "random_state=-1 is out of range"),
        ({"separation": -1.0}, ValueError, "separation"),
        ({"reassign": "no"}, TypeError, "reassign must be True or False"),
    ],
)
def test_leiden_checks_its_options(fitted, kwargs, error, match):
    with pytest.raises(error, match=match):
        pnmf.tl.leiden(fitted, **kwargs)


@pytest.mark.parametrize("verbosity", [0, 2])
def test_each_stage_logs_one_line_at_info_verbosity_and_none_when_quiet(fitted, verbosity, tmp_path):
    import sys

    import scanpy as sc

    before = sc.settings.verbosity
    sc.settings.verbosity = verbosity
    sc.settings.logfile = tmp_path / "log.txt"
    try:
        pnmf.tl.leiden(fitted, copy=True)
    finally:
        sc.settings.verbosity = before
        sc.settings.logfile = sys.stderr
    log = (tmp_path / "log.txt").read_text()
    stages = ("candidate neighbours per cell, from one search", "Leiden on the finest scale", "merged across scales")
    if verbosity:
        assert all(stage in log for stage in stages)
    else:
        assert not any(stage in log for stage in stages)


@pytest.mark.parametrize("verbosity", [0, 2])
@pytest.mark.parametrize(
    ("method", "title", "steps"), [("nested", "merging scales:", 2), ("independent", "Leiden:", 1)]
)
def test_the_scales_show_a_bar_at_info_verbosity_only(fitted, verbosity, method, title, steps, capfd):
    import scanpy as sc

    n_scales = len(fitted.uns["pnmf"]["obsm_keys"])
    total = steps * n_scales - (steps - 1)  # nested: the merges fine to coarse, then the moved cells placed back
    before = sc.settings.verbosity
    sc.settings.verbosity = verbosity
    try:
        pnmf.tl.leiden(fitted, method=method, copy=True)
    finally:
        sc.settings.verbosity = before
    err = capfd.readouterr().err
    # its first line, with the total (tqdm redraws at most every 0.1 s, so later counts may not show)
    assert (title in err and f"0/{total} " in err) == bool(verbosity)


def scanpys_distances(points, transformer=None):
    import scanpy as sc

    reference = sc.AnnData(obsm={"rep": points}, shape=(len(points), 0))
    sc.pp.neighbors(reference, n_neighbors=45, use_rep="rep", transformer=transformer, random_state=0)
    return reference.obsp["distances"]


@pytest.mark.parametrize("n_cells", [500, 8500])  # below scanpy's own exact limit (8,192 cells), and above it
def test_the_candidate_search_is_scanpys_exact_search_up_to_its_limit(n_cells):
    from sklearn.neighbors import NearestNeighbors

    from pnmf.tl._inputs import neighbor_distances

    points = np.random.default_rng(0).normal(size=(n_cells, 5))
    found = neighbor_distances(points, 45, 0)
    expected = scanpys_distances(points, transformer="sklearn")
    for attribute in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(found, attribute), getattr(expected, attribute))
    # exact: every cell's 44 nearest other cells
    nearest = NearestNeighbors(n_neighbors=45).fit(points).kneighbors(points, return_distance=False)
    for i in range(0, n_cells, 97):
        assert set(found.indices[found.indptr[i] : found.indptr[i + 1]]) == set(nearest[i]) - {i}


def test_above_its_limit_the_candidate_search_is_scanpys_default(monkeypatch):
    from pnmf.tl import _inputs

    monkeypatch.setattr(_inputs, "EXACT_SEARCH_MAX_CELLS", 8000)
    points = np.random.default_rng(1).normal(size=(8500, 5))
    found = _inputs.neighbor_distances(points, 45, 0)
    expected = scanpys_distances(points)  # pynndescent above 8,192 cells
    for attribute in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(found, attribute), getattr(expected, attribute))
