"""Manifest sections: each written and read by one class, unchanged through h5ad; one reader, one update helper."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import pnmf
from pnmf._keys import Keys
from pnmf._sections import (
    Alignment,
    Bars,
    Clustering,
    ConsensusScores,
    Convergence,
    CrossValidation,
    History,
    Scores,
    Umap,
    read_section,
    section_entries,
    with_section,
)

SECTIONS = [
    Clustering(
        ("pnmf_leiden_0", "pnmf_leiden_1"), np.array([3, 2]), np.array([0.5]), np.array([1.0]), {"method": "nested"}
    ),
    Umap(("X_pnmf_umap_2", "X_pnmf_umap_0"), scales=(2, 0), params={"n_neighbors": 15}),
    Convergence(np.array([3, 4]), np.array([True, False]), 2, True, 1.5, {"reconstruction": 1.0, "graph": 0.5}),
    Bars(np.array([0.1, 0.2]), 1, 0.3),
    Alignment("coupling", np.ones((1, 2))),
    History.from_columns({"phase": ["path", "sweep"], "scale": [0, -1], "iteration": [1, 0], "objective": [2.0, 1.5]}),
    ConsensusScores(np.ones((2, 3)), np.ones((2, 3)), np.full((2, 3), 4)),
    CrossValidation(
        "cross-validated", np.array([0.3, 0.2]), np.array([0.01, 0.0]), np.array([1.0, 10.0]), np.array([0.4, 0.5])
    ),
    # λ1 given and a single scale: nothing but the rule, empty arrays survive
    CrossValidation("single scale", np.empty(0), np.empty(0), np.empty(0), np.empty(0)),
]


def same(a, b):
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(np.asarray(x).astype(np.asarray(y).dtype), y)
        else:
            assert x == y, name


@pytest.mark.parametrize("section", SECTIONS, ids=[type(s).__name__ for s in SECTIONS])
def test_sections_survive_h5ad(section, tmp_path):
    adata = ad.AnnData(np.zeros((2, 2)))
    adata.uns["pnmf"] = with_section({}, "pnmf", section, "name")["pnmf"]
    adata.write_h5ad(tmp_path / "a.h5ad")
    manifest = ad.read_h5ad(tmp_path / "a.h5ad").uns["pnmf"]
    same(read_section(manifest, type(section), "name"), section)


def test_umap_entry_without_scales_has_every_scale_in_order():
    """Entries written before ``tl.umap(which=...)`` existed laid out every scale."""
    entry = {"obsm_keys": np.array(["X_pnmf_umap_0", "X_pnmf_umap_1"]), "params": {}}
    assert Umap.from_uns(entry).scales == (0, 1)


def test_scores_keep_their_column_order_and_types(tmp_path):
    table = pd.DataFrame({column: [0, 1] for column in Scores.COLUMNS})
    table["method"] = ["pnmf", "nmf"]
    table["recommended"] = [True, False]
    adata = ad.AnnData(np.zeros((2, 2)))
    adata.uns["pnmf"] = with_section({}, "pnmf", Scores(table), "labels")["pnmf"]
    adata.write_h5ad(tmp_path / "a.h5ad")
    loaded = read_section(ad.read_h5ad(tmp_path / "a.h5ad").uns["pnmf"], Scores, "labels").table
    assert loaded.columns.tolist() == list(Scores.COLUMNS)
    assert loaded["recommended"].dtype == bool


def test_updating_one_entry_keeps_the_others_and_the_input():
    first = Umap(("X_a_umap_0",))
    manifest = {"obsm_keys": ["X_a_0"], **with_section({}, "a", SECTIONS[0], "one")["a"]}
    updated = with_section(manifest, "a", SECTIONS[0], "two")["a"]
    assert set(section_entries(updated, Clustering)) == {"one", "two"}
    assert set(section_entries(manifest, Clustering)) == {"one"}  # the input is not modified
    assert with_section(updated, "a", first)["a"]["obsm_keys"] == ["X_a_0"]


def test_a_missing_section_raises_the_given_message():
    with pytest.raises(pnmf.PnmfKeyError, match=r"run pnmf\.tl\.leiden first"):
        read_section({}, Clustering, "leiden", missing="run pnmf.tl.leiden first")
    with pytest.raises(KeyError, match=r"no section 'umap'"):
        read_section({"umap": "not a section"}, Umap)


def test_only_names_of_pnmfs_form_count_as_written():
    clustering = Clustering(("pnmf_leiden_0", "cell_type"), np.array([2, 1]), np.array([]), np.array([]))
    assert clustering.written(Keys("pnmf"), "leiden") == {"obs": ["pnmf_leiden_0"], "uns": ["pnmf_leiden_0_colors"]}
    assert Umap(("X_pnmf_umap_0", "X_umap")).written(Keys("pnmf")) == {"obsm": ["X_pnmf_umap_0"]}
    assert section_entries({"clusters": {"bad": "entry", "ok": clustering.to_uns()}}, Clustering).keys() == {"ok"}
