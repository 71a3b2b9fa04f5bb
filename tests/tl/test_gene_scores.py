"""tl.gene_scores, get.gene_scores, get.network and the GMT files of io."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import pnmf
from pnmf import PnmfKeyError, PnmfValueError


@pytest.fixture(scope="module")
def scored(populations_base):
    adata = populations_base.copy()
    adata.var["highly_variable"] = np.arange(adata.n_vars) < 150
    pnmf.tl.pnmf(adata, 5, n_scales=3, max_iter=40, max_sweeps=2)
    pnmf.tl.gene_scores(adata)
    return adata


def test_every_gene_gets_a_score_that_follows_the_loadings_on_fitted_genes(scored):
    fitted = scored.uns["pnmf"]["genes"]
    for t in range(3):
        scores = scored.varm[f"pnmf_gene_scores_{t}"]
        loadings = scored.varm[f"pnmf_loadings_{t}"]
        assert scores.shape == (scored.n_vars, 5)
        assert (scores >= 0).all()
        assert (scores[~fitted] > 0).any()  # genes outside the fit are scored too
        correlation = [np.corrcoef(scores[fitted, j], loadings[fitted, j])[0, 1] for j in range(5)]
        # coarse scales smooth their embeddings, so their loadings fit the data less directly
        assert np.median(correlation) > 0.85
        assert min(correlation) > 0.5


def test_sparse_and_dense_expression_give_the_same_scores(scored):
    dense = scored.copy()
    dense.X = sparse.csr_matrix(dense.X).toarray() if sparse.issparse(dense.X) else sparse.csr_matrix(dense.X)
    pnmf.tl.gene_scores(dense)
    np.testing.assert_allclose(
        dense.varm["pnmf_gene_scores_1"], scored.varm["pnmf_gene_scores_1"], rtol=1e-3, atol=1e-5
    )


def test_top_genes_and_network_rank_by_scores(scored):
    top = pnmf.get.top_genes(scored, 0, 4, by="gene_scores")
    assert list(top.columns) == ["factor", "rank", "gene", "score"]
    table = pnmf.get.gene_scores(scored, 0)
    for j, group in top.groupby("factor"):
        assert list(group["gene"]) == list(table[f"factor_{j}"].sort_values(ascending=False, kind="stable").index[:4])
    net = pnmf.get.network(scored, "all", 7, by="gene_scores")
    assert set(net["source"]) == {f"scale_{t}_factor_{j}" for t in range(3) for j in range(5)}
    assert (net.groupby("source").size() == 7).all()
    assert (net["weight"] > 0).all()


def test_network_of_loadings_leaves_out_genes_of_zero_weight(scored):
    net = pnmf.get.network(scored, 0, n_genes=10_000)
    assert net["target"].isin(scored.var_names[scored.uns["pnmf"]["genes"]]).all()
    assert (net["weight"] > 0).all()


def test_scores_are_replaced_by_a_new_fit(scored):
    refit = scored.copy()
    pnmf.tl.pnmf(refit, 5, n_scales=2, max_iter=5, max_sweeps=0, graph_weight=1.0)
    assert not any(name.startswith("pnmf_gene_scores") for name in refit.varm)
    with pytest.raises(PnmfKeyError, match=r"run pnmf.tl.gene_scores"):
        pnmf.get.gene_scores(refit, 0)


def test_gmt_round_trip_and_refusals(scored, tmp_path):
    net = pnmf.get.network(scored, 0, 5)
    path = pnmf.io.write_gmt(net, tmp_path / "programs.gmt")
    back = pnmf.io.read_gmt(path)
    pd.testing.assert_frame_equal(back[["source", "target"]], net[["source", "target"]].reset_index(drop=True))
    before = path.read_bytes()
    with pytest.raises(PnmfValueError, match=r"'source' and 'target'"):
        pnmf.io.write_gmt(net.drop(columns="source"), path)
    bad = net.assign(target=net["target"].str.cat(["\t"] * len(net)))
    with pytest.raises(PnmfValueError, match=r"tabs or line breaks"):
        pnmf.io.write_gmt(bad, path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_programs_score_another_dataset_with_decoupler(scored):
    dc = pytest.importorskip("decoupler")
    net = pnmf.get.network(scored, "recommended", 20)
    query = scored.copy()
    dc.mt.ulm(query, net, tmin=5)
    scores = query.obsm["score_ulm"]
    embedding = pnmf.get.embedding(scored, "recommended")
    correlation = [
        np.corrcoef(scores[f"scale_{scored.uns['pnmf']['recommended_scale']}_factor_{j}"], embedding[f"factor_{j}"])[
            0, 1
        ]
        for j in range(5)
    ]
    # a program's score follows its factor in the embedding (measured 0.49 to 0.72)
    assert np.median(correlation) > 0.5
    assert min(correlation) > 0.4
