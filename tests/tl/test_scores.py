import numpy as np
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
