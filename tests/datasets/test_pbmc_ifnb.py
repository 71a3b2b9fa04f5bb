"""datasets.pbmc_ifnb: real control and stimulated PBMCs, and what batch_key does with them."""

import numpy as np
import pytest
import scanpy as sc
from sklearn.neighbors import NearestNeighbors

import pnmf


def test_counts_labels_and_conditions():
    adata = pnmf.datasets.pbmc_ifnb()
    assert adata.shape == (1556, 1267)
    counts = adata.X.data
    assert (counts > 0).all()
    np.testing.assert_array_equal(counts, np.round(counts))
    assert adata.obs["condition"].cat.categories.tolist() == ["ctrl", "stim"]
    assert set(adata.obs["cell_type"].cat.categories) == {
        "B cells",
        "CD14+ Monocytes",
        "CD4 T cells",
        "CD8 T cells",
        "FCGR3A+ Monocytes",
    }
    # every cell type in both conditions, of both donors: the batches hold the same populations
    cells = adata.obs.groupby(["cell_type", "condition", "donor"], observed=False).size()
    assert cells.min() >= 15
    assert "ISG15" in adata.var_names


@pytest.fixture(scope="module")
def prepared():
    adata = pnmf.datasets.pbmc_ifnb()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=1000, batch_key="condition")
    sc.pp.pca(adata, n_comps=30, mask_var="highly_variable", random_state=0)
    return adata


def _shares(adata, key):
    """The mean share of a cell's 15 nearest cells (recommended scale) from the other condition, and of its own type."""
    manifest = adata.uns[key]
    embedding = adata.obsm[manifest["obsm_keys"][manifest["recommended_scale"]]]
    nearest = NearestNeighbors(n_neighbors=16).fit(embedding).kneighbors(return_distance=False)[:, 1:]
    condition, cell_type = adata.obs["condition"].to_numpy(), adata.obs["cell_type"].to_numpy()
    return (condition[nearest] != condition[:, None]).mean(), (cell_type[nearest] == cell_type[:, None]).mean()


def test_batch_key_mixes_the_conditions_keeps_the_types_and_finds_the_interferon_response(prepared):
    adata = prepared.copy()
    pnmf.tl.pnmf(adata, 10, n_scales=4, key_added="plain")
    pnmf.tl.pnmf(adata, 10, n_scales=4, batch_key="condition")
    plain_mixing, plain_types = _shares(adata, "plain")
    mixing, types = _shares(adata, "pnmf")
    # fitted as one batch, the stimulation splits every type; integrated, a cell's neighbours span both conditions
    assert plain_mixing < 0.1
    assert mixing > 0.25
    assert types > plain_types - 0.02
    # the program the stimulated cells use most beyond their control counterparts is the interferon response
    usage = pnmf.get.batch_usage(adata)
    stimulated = usage[usage["batch"] == "stim"]
    response = int(stimulated.loc[stimulated["shift"].idxmax(), "factor"])
    top = pnmf.get.top_genes(adata, n_genes=10)
    assert {"ISG15", "IFI6", "MX1"} <= set(top.loc[top["factor"] == response, "gene"])
