"""get.scales, get.embedding, get.loadings, get.history, get.persistence_bars."""

import numpy as np
import pandas as pd
import pytest

import pnmf


def test_getters_need_a_result(populations):
    with pytest.raises(KeyError, match=r"run pnmf.tl.pnmf\(adata, key_added='pnmf'\) first"):
        pnmf.get.scales(populations)


def test_embedding_and_scale_resolution(fitted):
    recommended = int(fitted.uns["pnmf"]["recommended_scale"])
    pd.testing.assert_frame_equal(pnmf.get.embedding(fitted, "recommended"), pnmf.get.embedding(fitted, recommended))
    pd.testing.assert_frame_equal(pnmf.get.embedding(fitted, -1), pnmf.get.embedding(fitted, 2))
    assert pnmf.get.embedding(fitted, 0).index.equals(fitted.obs_names)
    with pytest.raises(IndexError, match="this result has 3 scales"):
        pnmf.get.embedding(fitted, 3)
    with pytest.raises(ValueError, match="'recommended'"):
        pnmf.get.embedding(fitted, "best")


def test_scales_show_the_held_out_errors_behind_the_recommended_scale(fitted):
    table = pnmf.get.scales(fitted)
    evidence = fitted.uns["pnmf"]["cross_validation"]
    assert evidence["scale_rule"] == "cross-validated"
    np.testing.assert_array_equal(table["held_out_error"], evidence["scale_errors"])
    np.testing.assert_array_equal(table["held_out_standard_error"], evidence["scale_standard_errors"])
    # from the smallest held-out error, coarser while within one standard error of it
    recommended = int(table.index[table["recommended"]][0])
    within = table["held_out_error"] - table["held_out_error"].min() <= table["held_out_standard_error"]
    best = int(np.argmin(table["held_out_error"]))
    assert best <= recommended
    assert within.iloc[best : recommended + 1].all()
    assert recommended == len(table) - 1 or not within.iloc[recommended + 1]
    assert (table["held_out_error"] > 0).all()
    assert (table["held_out_error"] < 1).all()


def test_scales_without_cross_validation_evidence_show_no_held_out_errors(fitted):
    # a result written before scales were cross-validated has no cross_validation section
    older = fitted.copy()
    del older.uns["pnmf"]["cross_validation"]
    table = pnmf.get.scales(older)
    evidence = ["held_out_error", "held_out_standard_error"]
    assert table[evidence].isna().all().all()
    pd.testing.assert_frame_equal(table.drop(columns=evidence), pnmf.get.scales(fitted).drop(columns=evidence))


def test_history_and_persistence_bars(fitted):
    history = pnmf.get.history(fitted)
    assert set(history["phase"]) == {"path", "sweep"}
    assert (history[history["phase"] == "sweep"]["scale"] == -1).all()
    bars = pnmf.get.persistence_bars(fitted)
    assert len(bars) == fitted.n_obs
    assert (bars["birth"] == 0).all()
    assert np.isinf(bars["death"]).sum() == 1


def test_scale_scores_table_types(scored_base):
    table = pnmf.get.scale_scores(scored_base, "cell_type")
    assert (
        table.columns.tolist()
        == "method scale n_connected ari_mean ari_std nmi_mean nmi_std leiden_ari recommended".split()
    )
    assert table["recommended"].dtype == bool
    assert table["method"].map(type).eq(str).all()
    with pytest.raises(KeyError, match=r"run pnmf.tl.score_scales\(adata, 'subtype', key='pnmf'\) first"):
        pnmf.get.scale_scores(scored_base, "subtype")
