import numpy as np
import pytest
import scanpy as sc
from anndata import AnnData
from scipy import sparse
from scipy.sparse.csgraph import connected_components

import pnmf
from pnmf._core.persistence import EdgeList
from pnmf._core.pooling import BULK_SHARE, pooling_groups, pooling_scales


def chain_and_clusters():
    """Two tight pairs far apart (components at a middle threshold) and a long chain that joins everything."""
    # cells 0-1 and 2-3: pairs at distance 1; 4..9: a chain with steps 2; the pairs join the chain at 3 and 4
    rows = np.array([0, 2, 4, 5, 6, 7, 8, 1, 3])
    cols = np.array([1, 3, 5, 6, 7, 8, 9, 4, 9])
    lengths = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 3.0, 4.0])
    return EdgeList(10, rows, cols, lengths)


def components(edges, threshold):
    keep = edges.lengths < threshold
    adjacency = sparse.coo_matrix(
        (np.ones(keep.sum()), (edges.rows[keep], edges.cols[keep])), shape=(edges.n_nodes,) * 2
    )
    return connected_components(adjacency, directed=False)[1]


def same_partition(a, b):
    return all(len(set(b[a == g])) == 1 for g in np.unique(a)) and all(len(set(a[b == g])) == 1 for g in np.unique(b))


def test_a_chain_is_never_pooled_and_coarser_scales_keep_the_finer_groups():
    edges = chain_and_clusters()
    poolings = pooling_groups(edges, np.array([1.5, 2.5, 3.5, 5.0]), min_population=2)
    # 1.5: the two pairs are populations that stay apart up to 2.5; chain cells are alone
    np.testing.assert_array_equal(poolings[0].groups >= 0, [True] * 4 + [False] * 6)
    assert same_partition(poolings[0].groups[:4], components(edges, 1.5)[:4])
    # 2.5: the chain (6 of the 10 cells in populations) is the bulk; the pairs stay groups
    np.testing.assert_array_equal(poolings[1].groups[4:], -1)
    # 3.5 and 5: pair 0-1 and then everything join the chain, the bulk: the pairs keep their groups
    for pooling in poolings[1:]:
        assert pooling.groups[0] == pooling.groups[1] != pooling.groups[2] == pooling.groups[3]
        np.testing.assert_array_equal(pooling.groups[4:], -1)
    assert [p.n_pooled for p in poolings] == [4, 4, 4, 4]


def subtypes_and_types():
    """Pairs A = 0-1 and B = 2-3 join at 2 (a type), pair C = 4-5 and chain D = 6..9 at 2.5, all at 10."""
    rows = np.array([0, 2, 4, 6, 7, 8, 1, 5, 3])
    cols = np.array([1, 3, 5, 7, 8, 9, 2, 6, 4])
    lengths = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.5, 10.0])
    return EdgeList(10, rows, cols, lengths)


def test_populations_that_persist_are_groups_and_types_join_their_subtypes():
    poolings = pooling_groups(subtypes_and_types(), np.array([1.5, 1.8, 3.0, 20.0]), min_population=2)
    for pooling in poolings[:2]:  # A, B, C and D stay apart from 1.5 to 1.8
        assert pooling.n_groups == 4
        assert same_partition(pooling.groups, np.array([0, 0, 1, 1, 2, 2, 3, 3, 3, 3]))
    # 3: A and B, both groups, join into one; C and D join into the bulk and keep their groups
    for pooling in poolings[2:]:
        assert same_partition(pooling.groups, np.array([0, 0, 0, 0, 2, 2, 3, 3, 3, 3]))


def test_populations_that_merge_before_the_next_scale_are_not_groups():
    poolings = pooling_groups(subtypes_and_types(), np.array([1.5, 3.0, 20.0]), min_population=2)
    # A merges with B, C with D before 3: at this resolution they chain, and nothing is pooled
    assert [p.n_groups for p in poolings] == [0, 0, 0]


def test_a_component_of_at_most_half_the_cells_in_populations_is_pooled_whole():
    assert BULK_SHARE == 0.5
    edges = subtypes_and_types()
    # at 2.5 with a coarser scale at 5: AB (4 cells) and CD (6 of 10) both stay apart; CD is the bulk
    pooling = pooling_groups(edges, np.array([2.6, 5.0]), min_population=2)[0]
    assert pooling.n_groups == 1
    np.testing.assert_array_equal(pooling.groups >= 0, [True] * 4 + [False] * 6)


def test_the_pooling_weight_grows_as_the_squared_threshold_and_is_zero_at_the_finest():
    np.testing.assert_allclose(pooling_scales(np.array([2.0, 1.0, 3.0])), [3.0, 0.0, 8.0])
    assert pooling_groups(chain_and_clusters(), np.array([1.5]))[0].scale == 0


def test_penalty_pull_and_weights_match_the_dense_formulas():
    edges = chain_and_clusters()
    pooling = pooling_groups(edges, np.array([1.0, 3.5]))[1]
    generator = np.random.default_rng(0)
    U = generator.random((10, 3))
    groups = pooling.groups
    means = {g: U[groups == g].mean(axis=0) for g in np.unique(groups[groups >= 0])}
    rho = 2.0 * pooling.scale
    dense = rho * sum(np.sum((U[groups == g] - m) ** 2) for g, m in means.items())
    assert pooling.penalty(U, 2.0) == pytest.approx(dense, rel=1e-12)
    linear = np.zeros_like(U)
    pooling.add_pull(linear, U, 2.0)
    expected = np.array([rho * means[g] if g >= 0 else np.zeros(3) for g in groups])
    np.testing.assert_allclose(linear, expected, rtol=1e-12)
    np.testing.assert_allclose(pooling.cell_weights(2.0), np.where(groups >= 0, rho, 0.0))


def separable_hierarchy(n_cells=900, n_types=3, n_subtypes=3, seed=0):
    """Counts from types whose subtypes are apart, as persistence sees them: subtypes join first, types last."""
    generator = np.random.default_rng(seed)
    n_genes = 400
    leaf = generator.integers(0, n_types * n_subtypes, n_cells)
    log_fold = np.zeros((n_types * n_subtypes, n_genes))
    for t in range(n_types):
        log_fold[t * n_subtypes : (t + 1) * n_subtypes, t * 40 : (t + 1) * 40] = np.log(8.0)
        for s in range(n_subtypes):
            start = 200 + (t * n_subtypes + s) * 20
            log_fold[t * n_subtypes + s, start : start + 20] = np.log(6.0)
    counts = generator.poisson(np.exp(log_fold[leaf])).astype(np.float32)
    adata = AnnData(sparse.csr_matrix(counts))
    adata.obs["subtype"] = leaf
    adata.obs["cell_type"] = leaf // n_subtypes
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=20, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    return adata


def within_type_share(embedding, subtype, cell_type):
    """Share of the embedding's variance that lies between the subtypes of a type."""
    total = np.sum((embedding - embedding.mean(axis=0)) ** 2)
    between_subtypes = sum(
        np.sum(subtype == s)
        * np.sum((embedding[subtype == s].mean(axis=0) - embedding[cell_type == t].mean(axis=0)) ** 2)
        for s in np.unique(subtype)
        for t in np.unique(cell_type[subtype == s])
    )
    return between_subtypes / total


@pytest.fixture(scope="module")
def hierarchy():
    return separable_hierarchy()


def test_coarse_scales_contract_the_subtypes_that_persistence_joins(hierarchy):
    shares = {}
    for pooling_weight in (10.0, 0.0):
        adata = hierarchy.copy()
        pnmf.tl.pnmf(adata, n_comps=8, n_scales=6, pooling_weight=pooling_weight)
        subtype, cell_type = adata.obs["subtype"].to_numpy(), adata.obs["cell_type"].to_numpy()
        keys = adata.uns["pnmf"]["obsm_keys"]
        shares[pooling_weight] = np.array([within_type_share(adata.obsm[key], subtype, cell_type) for key in keys])
        assert adata.uns["pnmf"]["n_groups"][-1] == 3  # the three types, once persistence has joined their subtypes
    pooled, unpooled = shares[10.0], shares[0.0]
    # without pooling the scales are one resolution; with it, the subtypes contract as the scale grows
    assert unpooled.min() > 0.8 * unpooled[0]
    assert pooled[-1] < 0.05 * unpooled[-1]
    assert np.all(np.diff(pooled) <= 0.01 * pooled[0])  # no coarser scale parts the subtypes further
    assert pooled[0] > 10 * pooled[-1]
