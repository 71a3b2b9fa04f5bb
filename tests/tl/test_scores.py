"""tl.score_scales: every scale and baseline scored against known labels."""

import numpy as np
import pandas as pd
import pytest

import pnmf


def test_cells_without_a_label_are_left_out(fitted):
    adata = fitted.copy()
    labels = adata.obs["cell_type"].astype(object)
    labels.iloc[:40] = np.nan
    adata.obs["partial"] = labels
    pnmf.tl.score_scales(adata, "partial", baselines=[], n_seeds=2)
    known = adata[adata.obs["partial"].notna()].copy()
    pnmf.tl.score_scales(known, "partial", baselines=[], n_seeds=2)
    with_missing = pnmf.get.scale_scores(adata, "partial")["ari_mean"].to_numpy()
    labelled_only = pnmf.get.scale_scores(known, "partial")["ari_mean"].to_numpy()
    np.testing.assert_allclose(with_missing, labelled_only)


def test_one_label_and_missing_values_is_refused(fitted):
    adata = fitted.copy()
    adata.obs["one"] = np.where(np.arange(adata.n_obs) % 2 == 0, "a", None)
    with pytest.raises(ValueError, match="fewer than two distinct labels"):
        pnmf.tl.score_scales(adata, "one", baselines=[])


def test_n_init_is_checked(fitted):
    with pytest.raises(ValueError, match="n_init=0"):
        pnmf.tl.score_scales(fitted.copy(), "cell_type", baselines=[], n_init=0)


def test_every_scale_and_baseline_is_scored(scored_base):
    table = pnmf.get.scale_scores(scored_base, "cell_type")
    n_scales = len(scored_base.uns["pnmf"]["obsm_keys"])
    assert table["method"].tolist() == ["pnmf"] * n_scales + ["nmf", "gnmf", "pca"]
    assert table["scale"].tolist() == [*range(n_scales), -1, -1, -1]
    assert table["recommended"].sum() == 1
    assert table.loc[table["recommended"], "scale"].item() == scored_base.uns["pnmf"]["recommended_scale"]
    assert table[["ari_mean", "nmi_mean"]].apply(lambda c: c.between(-1, 1)).all().all()
    # the Leiden ARI is filled for the scales, not for the baselines
    assert table["leiden_ari"].iloc[:n_scales].notna().all()
    assert table["leiden_ari"].iloc[n_scales:].isna().all()
    # three types well apart: the scales find them
    assert table["ari_mean"].iloc[:n_scales].max() > 0.5


def test_pca_baseline_is_kmeans_on_the_runs_representation(scored_base):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    table = pnmf.get.scale_scores(scored_base, "cell_type")
    labels = scored_base.obs["cell_type"].astype(str).to_numpy()
    points = scored_base.obsm["X_pca"]
    expected = np.mean(
        [adjusted_rand_score(labels, KMeans(3, n_init=2, random_state=s).fit_predict(points)) for s in (0, 1)]
    )
    assert table.loc[table["method"] == "pca", "ari_mean"].item() == pytest.approx(expected)


def test_scores_survive_h5ad(scored_base, tmp_path):
    import anndata as ad

    scored_base.write_h5ad(tmp_path / "scored.h5ad")
    loaded = ad.read_h5ad(tmp_path / "scored.h5ad")
    pd.testing.assert_frame_equal(
        pnmf.get.scale_scores(loaded, "cell_type"), pnmf.get.scale_scores(scored_base, "cell_type")
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"labels_key": "nope"}, KeyError, "labels_key='nope' is not a column of adata.obs"),
        ({"baselines": ["svd"]}, ValueError, "baselines='svd' is not supported"),
        ({"n_seeds": 0}, ValueError, "n_seeds=0 is out of range"),
        ({"key": "other"}, KeyError, r"run pnmf.tl.pnmf\(adata, key_added='other'\) first"),
    ],
)
def test_score_scales_checks_its_options(fitted, kwargs, error, match):
    with pytest.raises(error, match=match) as raised:
        pnmf.tl.score_scales(fitted, **{"labels_key": "cell_type", "baselines": [], **kwargs})
    assert isinstance(raised.value, pnmf.PnmfError)
    assert "scores" not in fitted.uns["pnmf"]


def test_pca_baseline_needs_the_stored_representation(fitted):
    del fitted.obsm["X_pca"]
    with pytest.raises(KeyError, match="drop 'pca' from baselines"):
        pnmf.tl.score_scales(fitted, "cell_type", baselines=["pca"], n_seeds=1)
