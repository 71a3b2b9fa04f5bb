"""A result checked against the AnnData it sits in: the edits users make, and edits of every kind to every field."""

from __future__ import annotations

import pickle
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

import pnmf
from pnmf._validation import check_key_added, check_result, check_seed, matrix_problem
from pnmf.get._clusters import cluster_colors


@pytest.fixture(scope="module")
def edited_base(populations_base):
    """A 3-scale result on 200 of 400 genes, clustered, with gene scores and one UMAP (read-only)."""
    adata = populations_base.copy()
    adata.var["highly_variable"] = np.arange(adata.n_vars) < 200
    pnmf.tl.pnmf(adata, 4, n_scales=3, max_iter=20, max_sweeps=1)
    pnmf.tl.leiden(adata, 0.8, n_neighbors=5)
    pnmf.tl.gene_scores(adata)
    pnmf.tl.umap(adata, which=[0], n_neighbors=5)
    return adata


@pytest.fixture
def edited(edited_base):
    return edited_base.copy()


def frozen(adata) -> bytes:
    """Everything a reader could change, as bytes to compare."""
    return pickle.dumps((dict(adata.uns), dict(adata.obsm), dict(adata.varm), adata.obs, adata.var, adata.X))


# edits users make every day


def test_a_cell_subset_reads_as_the_fitted_cells(edited):
    subset = edited[:100].copy()
    manifest = check_result(subset, "pnmf", subset.uns["pnmf"], loadings=True, genes=True, params=True)
    np.testing.assert_array_equal(manifest["genes"], edited.uns["pnmf"]["genes"])
    pd.testing.assert_frame_equal(pnmf.get.embedding(subset, 1), pnmf.get.embedding(edited, 1).iloc[:100])
    pnmf.tl.leiden(subset, n_neighbors=5)
    pnmf.tl.project(edited[100:].copy(), subset)


@pytest.mark.parametrize("order", ["superset", "reordered"])
def test_genes_subset_to_a_superset_of_the_fitted_genes_or_reordered_are_found_by_name(edited, order):
    keep = np.arange(edited.n_vars) if order == "reordered" else np.r_[np.arange(200), np.arange(200, 400, 3)]
    genes = np.random.default_rng(0).permutation(keep) if order == "reordered" else keep
    subset = edited[:, genes].copy()
    manifest = check_result(subset, "pnmf", subset.uns["pnmf"], genes=True)
    assert list(subset.var_names[manifest["genes"]].sort_values()) == sorted(edited.var_names[:200])
    pnmf.tl.gene_scores(subset)
    scores = pnmf.get.gene_scores(subset, 0).loc[edited.var_names[:200]]
    np.testing.assert_allclose(
        scores, pnmf.get.gene_scores(edited, 0).loc[edited.var_names[:200]], rtol=1e-4, atol=1e-6
    )
    query = edited[:50].copy()
    # the query's PCA coordinates given: placing cells in the PCA from X needs all of the PCA's genes
    pnmf.tl.project(query, subset, use_rep="X_pca", key_added="again")
    pnmf.tl.project(query, edited, use_rep="X_pca", key_added="once")
    np.testing.assert_allclose(query.obsm["X_again_0"], query.obsm["X_once_0"], rtol=1e-4, atol=1e-6)


def test_genes_subset_that_drops_fitted_genes_is_refused_by_the_readers_that_need_them(edited, tmp_path):
    subset = edited[:, 100:].copy()
    before = frozen(subset)
    for read in (
        lambda: pnmf.tl.gene_scores(subset),
        lambda: pnmf.io.write_reference(subset, tmp_path / "r.h5ad"),
        lambda: pnmf.tl.project(edited[:20].copy(), subset),
        lambda: pnmf.tl.consensus(subset, n_runs=2),
    ):
        with pytest.raises(pnmf.PnmfKeyError, match=r"lacks 100 of the 200 genes the pnmf result 'pnmf' was fitted on"):
            read()
    assert frozen(subset) == before
    assert not (tmp_path / "r.h5ad").exists()
    pnmf.get.embedding(subset)  # the embeddings do not depend on the genes


def test_a_result_without_gene_names_cannot_be_matched_after_a_gene_subset(edited):
    del edited.uns["pnmf"]["gene_names"]  # as written before the names were recorded
    subset = edited[:, :300].copy()
    with pytest.raises(
        pnmf.PnmfValueError, match=r"mask of 400 genes, but adata has 300; written before pnmf recorded"
    ):
        pnmf.tl.gene_scores(subset)
    pnmf.tl.gene_scores(edited)  # the full AnnData still reads with the mask alone


def test_concatenated_cells_without_loadings_still_cluster(edited):
    import anndata as ad

    joined = ad.concat([edited[:150], edited[150:]], uns_merge="first")  # varm is dropped
    assert "pnmf_loadings_0" not in joined.varm
    pnmf.tl.leiden(joined, n_neighbors=5, key_added="again")
    with pytest.raises(pnmf.PnmfKeyError, match=r"names adata.varm\['pnmf_loadings_0'\], which is missing"):
        pnmf.get.loadings(joined, 0)


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (lambda m, a: m.pop("obsm_keys"), pnmf.PnmfKeyError, r"No pnmf result under key 'pnmf'"),
        (lambda m, a: m.pop("thresholds"), pnmf.PnmfKeyError, r"has no 'thresholds' in adata.uns\['pnmf'\]"),
        (lambda m, a: m.update(thresholds=m["thresholds"][:2]), pnmf.PnmfValueError, r"expected 3 finite numbers"),
        (lambda m, a: m.update(n_edges=np.array(["a", "b", "c"])), pnmf.PnmfValueError, r"has n_edges="),
        (lambda m, a: m.update(recommended_scale=3), pnmf.PnmfValueError, r"recommended_scale=3, expected the index"),
        (lambda m, a: m.update(varm_keys=m["varm_keys"][:2]), pnmf.PnmfValueError, r"lists 2 keys in 'varm_keys'"),
        (lambda m, a: a.obsm.pop("X_pnmf_1"), pnmf.PnmfKeyError, r"names adata.obsm\['X_pnmf_1'\], which is missing"),
        (
            lambda m, a: a.obsm.__setitem__("X_pnmf_2", a.obsm["X_pnmf_2"][:, :3]),
            pnmf.PnmfValueError,
            r"adata.obsm\['X_pnmf_2'\] with 3 columns, but 4 factors",
        ),
        (
            lambda m, a: a.obsm.__setitem__("X_pnmf_0", sparse.csr_matrix(a.obsm["X_pnmf_0"])),
            pnmf.PnmfValueError,
            r"as a csr_matrix",
        ),
        (
            lambda m, a: a.obsm["X_pnmf_0"].__setitem__((0, 0), np.inf),
            pnmf.PnmfValueError,
            r"adata.obsm\['X_pnmf_0'\] with NaN or infinite values",
        ),
    ],
)
def test_a_damaged_result_is_refused_with_what_is_wrong_and_how_to_repair(edited, edit, error, match):
    edit(edited.uns["pnmf"], edited)
    with pytest.raises(error, match=match):
        pnmf.get.embedding(edited, 0)
    if "No pnmf result" not in match:
        with pytest.raises(error, match=r"Rerun pnmf.tl.pnmf\(adata, key_added='pnmf'\)"):
            pnmf.get.scales(edited)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.pop("genes"), r"has no 'genes'"),
        (lambda m: m.update(genes=m["genes"].astype(int)), r"expected a boolean mask"),
        (lambda m: m.update(gene_names=m["gene_names"][:10]), r"names 10 fitted genes in 'gene_names', its mask 200"),
        (lambda m: m.pop("params"), r"has no 'params'"),
    ],
)
def test_damaged_genes_or_params_are_refused_by_the_readers_that_need_them(edited, edit, match):
    edit(edited.uns["pnmf"])
    with pytest.raises(pnmf.PnmfError, match=match):
        check_result(edited, "pnmf", edited.uns["pnmf"], genes=True, params=True)
    check_result(edited, "pnmf", edited.uns["pnmf"])  # the embeddings alone are still fine


def test_a_damaged_section_is_named(edited):
    edited.uns["pnmf"]["convergence"]["n_iter"] = "many"
    with pytest.raises(pnmf.PnmfValueError, match=r"section 'convergence' is damaged"):
        pnmf.get.scales(edited)
    edited.uns["pnmf"]["clusters"]["leiden"]["n_clusters"] = np.array([3])
    with pytest.raises(pnmf.PnmfValueError, match=r"section 'clusters'\['leiden'\] is damaged"):
        pnmf.get.cluster_tree(edited)


@pytest.mark.parametrize("colors", [None, 7, "red", np.array(["not a colour"] * 9), np.array(["#000000"])])
def test_damaged_cluster_colours_fall_back_to_fresh_ones(edited, colors):
    name = "pnmf_leiden_0_colors"
    if colors is None:
        del edited.uns[name]
    else:
        edited.uns[name] = colors
    nodes, _ = pnmf.get.cluster_tree(edited)
    assert len(cluster_colors(edited, nodes)) == len(nodes)
    pnmf.pl.cluster_tree(edited, show=False)
    plt.close("all")


# the checks themselves


@pytest.mark.parametrize("key", [".", "..", "...", "a/b"])
def test_keys_that_files_cannot_store_are_refused(key):
    with pytest.raises(pnmf.PnmfValueError, match=r"key_added=.* (contains '/'|is made of dots only)"):
        check_key_added(key)


def test_one_seed_check_takes_a_random_state_and_refuses_negative_seeds():
    assert isinstance(check_seed("random_state", np.random.RandomState(0)), int)
    assert check_seed("random_state", None) is None
    with pytest.raises(pnmf.PnmfValueError, match=r"random_state=-3 is out of range"):
        check_seed("random_state", -3)
    with pytest.raises(pnmf.PnmfTypeError, match=r"random_state is a numpy Generator"):
        check_seed("random_state", np.random.default_rng(0))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (np.zeros((3, 2)), ""),
        (np.zeros(3), "not the 2-D array"),
        (np.zeros((3, 2), dtype=bool), "of dtype bool"),
        (np.full((3, 2), np.nan), "NaN or infinite"),
        (np.zeros((3, 1)), "with 1 columns, but 2 factors"),
    ],
)
def test_matrix_problem_names_each_problem(value, problem):
    found = matrix_problem(value, 2)
    assert (problem in found) if problem else found == ""


# property: any deletion, truncation or type change of one entry gives the right answer or a PnmfError, and
# never changes the AnnData


def _manifest_paths(manifest: Mapping, prefix: tuple = (), depth: int = 3) -> list[tuple]:
    paths = []
    for name, value in manifest.items():
        paths.append((*prefix, name))
        if isinstance(value, Mapping) and depth > 1:
            paths += _manifest_paths(value, (*prefix, name), depth - 1)
    return paths


RETYPED = ("x", 7, 2.5, True, None, np.array(["a", "b"]), {"a": 1}, np.array([np.nan, 1.0]))


def _edit_uns(parent: dict, name: str, operation: str, value: object) -> None:
    current = parent[name]
    if operation == "delete":
        del parent[name]
    elif operation == "truncate" and isinstance(current, np.ndarray | list | str) and np.ndim(current) > 0:
        parent[name] = current[:-1]
    elif operation == "truncate" and isinstance(current, Mapping) and current:
        parent[name] = dict(list(current.items())[:-1])
    else:
        parent[name] = value


def _edit_matrix(store, name: str, operation: str) -> None:
    current = np.asarray(store[name])
    if operation == "delete":
        del store[name]
    elif operation == "truncate":
        store[name] = current[:, :-1]
    elif operation == "nan":
        changed = current.astype(np.float64)
        changed[0, 0] = np.nan
        store[name] = changed
    elif operation == "sparse":
        store[name] = sparse.csr_matrix(current)
    else:
        store[name] = current.astype(bool)


@st.composite
def edits(draw, base):
    """One edit: of a manifest field (any depth up to 3), an obsm/varm entry, or a colour entry."""
    manifest = base.uns["pnmf"]
    kind = draw(st.sampled_from(["uns", "uns", "obsm", "varm", "colors"]))
    if kind == "uns":
        path = draw(st.sampled_from(_manifest_paths(manifest)))
        return kind, path, draw(st.sampled_from(["delete", "truncate", "retype"])), draw(st.sampled_from(RETYPED))
    if kind == "colors":
        name = draw(st.sampled_from([k for k in base.uns if k.endswith("_colors")]))
        return kind, name, draw(st.sampled_from(["delete", "truncate", "retype"])), draw(st.sampled_from(RETYPED))
    names = [k for k in getattr(base, kind) if k != "PCs" or kind == "varm"]
    return (
        kind,
        draw(st.sampled_from(names)),
        draw(st.sampled_from(["delete", "truncate", "nan", "sparse", "bool"])),
        None,
    )


def apply(adata, edit) -> None:
    kind, target, operation, value = edit
    if kind == "uns":
        parent = adata.uns["pnmf"]
        for name in target[:-1]:
            parent = parent[name]
        _edit_uns(parent, target[-1], operation, value)
    elif kind == "colors":
        _edit_uns(adata.uns, target, operation, value)
    else:
        _edit_matrix(getattr(adata, kind), target, operation)


def _plot(draw):
    def run(adata):
        draw(adata)
        plt.close("all")

    return run


FAST_READERS = {
    "get.embedding": lambda a: pnmf.get.embedding(a),
    "get.loadings": lambda a: pnmf.get.loadings(a, -1),
    "get.scales": lambda a: pnmf.get.scales(a),
    "get.top_genes": lambda a: pnmf.get.top_genes(a, by="gene_scores"),
    "get.cluster_colors": lambda a: cluster_colors(a, pnmf.get.cluster_tree(a)[0]),
    "get.history": lambda a: pnmf.get.history(a),
    "get.persistence_bars": lambda a: pnmf.get.persistence_bars(a),
    "get.factor_similarity": lambda a: pnmf.get.factor_similarity(a),
    "get.network": lambda a: pnmf.get.network(a),
}
TOOLS = {
    "tl.leiden": lambda a: pnmf.tl.leiden(a, n_neighbors=5, copy=True),
    "tl.gene_scores": lambda a: pnmf.tl.gene_scores(a, copy=True),
    "tl.project": lambda a: pnmf.tl.project(a[:20].copy(), a),
    "pl.cluster_tree": _plot(lambda a: pnmf.pl.cluster_tree(a, show=False)),
    "pl.scales": _plot(lambda a: pnmf.pl.scales(a, basis="umap", show=False)),
    "pl.persistence": _plot(lambda a: pnmf.pl.persistence(a, show=False)),
}
SLOW_TOOLS = {
    "tl.umap": lambda a: pnmf.tl.umap(a, which=[-1], n_neighbors=5, copy=True),
    "tl.consensus": lambda a: pnmf.tl.consensus(a, n_runs=2, copy=True),
}


def _check_readers(base, edit, readers, tmp_path=None) -> None:
    adata = base.copy()
    try:
        apply(adata, edit)
    except (ValueError, TypeError):  # anndata refuses the edit itself (e.g. a wrong number of rows)
        return
    before = frozen(adata)
    for name, read in readers.items():
        try:
            read(adata)
        except pnmf.PnmfError:
            pass
        except Exception as error:
            pytest.fail(f"{name} after {edit}: {type(error).__name__}: {error}")
        assert frozen(adata) == before, (name, edit)


def property_settings(max_examples: int) -> settings:
    """Reproducible examples (CI runs the same ones every time), no deadline: a tool may compile on first use."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


@property_settings(100)
@given(data=st.data())
def test_getters_given_any_edit_answer_or_refuse_and_change_nothing(edited_base, data):
    _check_readers(edited_base, data.draw(edits(edited_base)), FAST_READERS)


@property_settings(30)
@given(data=st.data())
def test_tools_and_plots_given_any_edit_answer_or_refuse_and_change_nothing(edited_base, data, tmp_path):
    readers = {**TOOLS, "io.write_reference": lambda a: pnmf.io.write_reference(a, tmp_path / "reference.h5ad")}
    _check_readers(edited_base, data.draw(edits(edited_base)), readers)


@property_settings(8)
@given(data=st.data())
def test_slow_tools_given_any_edit_answer_or_refuse_and_change_nothing(edited_base, data):
    _check_readers(edited_base, data.draw(edits(edited_base)), SLOW_TOOLS)


# more edits of the same kind


def test_renamed_genes_are_named_as_renamed(edited):
    edited.var_names = [f"ENSG{i:05d}" for i in range(edited.n_vars)]
    with pytest.raises(pnmf.PnmfKeyError, match=r"None of the 200 genes .* the genes were renamed after the fit"):
        pnmf.tl.gene_scores(edited)


def test_a_projection_has_no_barcode_of_its_own(edited):
    query = edited[:30].copy()
    pnmf.tl.project(query, edited, key_added="new")
    with pytest.raises(pnmf.PnmfKeyError, match=r"holds no persistence barcode: it was projected onto a reference"):
        pnmf.get.persistence_bars(query, key="new")
    pnmf.pl.cluster_tree(query, key="new", show=False)  # without component counts in its labels
    plt.close("all")


def test_cluster_columns_turned_into_strings_still_read(edited):
    edited.obs["pnmf_leiden_1"] = edited.obs["pnmf_leiden_1"].astype(str)
    nodes, _ = pnmf.get.cluster_tree(edited)
    assert len(cluster_colors(edited, nodes)) == len(nodes)
    pnmf.tl.project(edited[:30].copy(), edited, key_added="new")


def test_a_renamed_result_key_reads_under_its_new_key(edited):
    edited.uns["renamed"] = edited.uns.pop("pnmf")
    np.testing.assert_array_equal(pnmf.get.embedding(edited, 0, key="renamed"), edited.obsm["X_pnmf_0"])
    pnmf.tl.project(edited[:30].copy(), edited, key="renamed", key_added="new")


def test_a_saved_and_reloaded_gene_subset_still_finds_its_genes(edited, tmp_path):
    import anndata as ad

    edited.write_h5ad(tmp_path / "fit.h5ad")
    subset = ad.read_h5ad(tmp_path / "fit.h5ad")[:, 50:].copy()  # drops fitted genes: refused
    with pytest.raises(pnmf.PnmfKeyError, match=r"lacks 50 of the 200 genes"):
        pnmf.tl.gene_scores(subset)
    kept = ad.read_h5ad(tmp_path / "fit.h5ad")[:, ::-1].copy()
    pnmf.tl.gene_scores(kept)
    np.testing.assert_allclose(
        kept.varm["pnmf_gene_scores_0"][::-1], edited.varm["pnmf_gene_scores_0"], rtol=1e-4, atol=1e-6
    )
