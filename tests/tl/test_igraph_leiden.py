import random

import igraph
import numpy as np
import pytest
import scanpy as sc
from anndata import AnnData
from scipy import sparse

from pnmf.tl._igraph_leiden import leiden_communities


def scanpys_communities(graph, resolution, n_iterations, random_state) -> np.ndarray:
    scratch = AnnData(shape=(graph.shape[0], 0))
    sc.tl.leiden(
        scratch,
        adjacency=graph,
        resolution=resolution,
        n_iterations=n_iterations,
        random_state=random_state,
        flavor="igraph",
        directed=False,
    )
    return scratch.obs["leiden"].to_numpy().astype(int)


@pytest.fixture(scope="module")
def pbmc_graph():
    return sc.datasets.pbmc68k_reduced().obsp["connectivities"]


@pytest.mark.parametrize(("resolution", "n_iterations", "random_state"), [(1.0, 2, 0), (0.4, -1, 7), (2.0, 2, 123)])
def test_the_communities_are_scanpys_cell_for_cell(pbmc_graph, resolution, n_iterations, random_state):
    ours = leiden_communities(pbmc_graph, resolution, n_iterations, random_state)
    theirs = scanpys_communities(pbmc_graph, resolution, n_iterations, random_state)
    assert len(np.unique(ours)) > 2
    np.testing.assert_array_equal(ours, theirs)


def test_explicitly_stored_zeros_are_not_edges_as_in_scanpy(pbmc_graph):
    graph = pbmc_graph.copy()
    graph.data[::7] = 0.0  # stored, not eliminated
    assert (graph.data == 0).sum() > 0
    expected = scanpys_communities(graph, 1.0, 2, 0)
    np.testing.assert_array_equal(leiden_communities(graph, 1.0, 2, 0), expected)


def igraph_follows_pythons_random(graph) -> bool:
    """Whether two runs of igraph's Leiden after the same ``random.seed`` agree."""
    network = igraph.Graph.Weighted_Adjacency(sparse.triu(graph).toarray().tolist(), mode="upper")

    def seeded_run() -> list[int]:
        random.seed(11)
        return network.community_leiden(objective_function="modularity", weights="weight", n_iterations=2).membership

    return seeded_run() == seeded_run()


def test_igraph_draws_from_pythons_random_again_afterwards(pbmc_graph):
    leiden_communities(pbmc_graph, 1.0, 2, 0)
    assert igraph_follows_pythons_random(pbmc_graph)


def test_an_error_inside_leaves_igraphs_generator_restored(pbmc_graph):
    with pytest.raises(TypeError):
        leiden_communities(pbmc_graph, "high", 2, 0)  # type: ignore[arg-type]
    assert igraph_follows_pythons_random(pbmc_graph)
