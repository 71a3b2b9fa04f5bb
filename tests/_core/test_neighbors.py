import numpy as np
import pytest
import scanpy as sc
from anndata import AnnData
from scipy import sparse

from pnmf._core.neighbors import Candidates, ScaleNeighbors, connectivities


def search(points: np.ndarray, n_neighbors: int) -> AnnData:
    """scanpy's own kNN graph of ``points`` (exact below 4096 cells)."""
    adata = AnnData(obsm={"rep": points}, shape=(len(points), 0))
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep="rep", random_state=0)
    return adata


@pytest.fixture
def scales():
    generator = np.random.default_rng(0)
    finest = generator.normal(size=(300, 6))
    # a coarser view: the same cells, contracted towards four centres and rotated
    centres = generator.normal(scale=3.0, size=(4, 6))[generator.integers(0, 4, 300)]
    rotation = np.linalg.qr(generator.normal(size=(6, 6)))[0]
    return [finest, (0.3 * finest + centres) @ rotation]


def test_every_candidate_gives_each_scale_its_exact_neighbours(scales):
    candidates = Candidates(search(scales[0], 300).obsp["distances"])  # every other cell
    for points in scales:
        indices, distances = candidates.nearest(points, 10)
        exact = np.linalg.norm(points[:, None] - points[None], axis=2)
        np.fill_diagonal(exact, -1.0)  # the cell itself first
        np.testing.assert_array_equal(indices, np.argsort(exact, axis=1, kind="stable")[:, :10])
        np.testing.assert_allclose(distances[:, 1:], np.sort(exact, axis=1)[:, 1:10], rtol=1e-12)


def test_the_graph_is_scanpys_when_the_candidates_hold_the_neighbours(scales):
    candidates = Candidates(search(scales[0], 60).obsp["distances"])
    for points in scales:
        ours = connectivities(candidates, points, 15)
        theirs = sparse.csr_matrix(search(points, 15).obsp["connectivities"])
        # on the coarse scale a few true neighbours may lie outside the finest scale's 60 nearest
        same = abs(ours - theirs).sum() / theirs.sum()
        assert same < (1e-6 if points is scales[0] else 0.05)
        assert abs(ours - ours.T).max() < 1e-12


def test_a_cell_with_too_few_candidates_keeps_those_it_has():
    points = np.random.default_rng(1).normal(size=(40, 3))
    distances = sparse.lil_matrix(search(points, 6).obsp["distances"])
    distances[0] = 0  # cell 0 keeps two candidates
    distances[0, 5] = 1.0
    distances[0, 9] = 1.0
    distances = sparse.csr_matrix(distances)
    distances.eliminate_zeros()
    indices, lengths = Candidates(distances).nearest(points, 6)
    assert set(indices[0, 1:3]) == {5, 9}
    assert (indices[0, 3:] == -1).all()
    assert np.isinf(lengths[0, 3:]).all()
    graph = connectivities(Candidates(distances), points, 6)
    assert set(graph[0].indices) >= {5, 9}


def test_scale_graphs_are_built_when_read(scales):
    candidates = Candidates(search(scales[0], 45).obsp["distances"])
    graphs = ScaleNeighbors(candidates, scales, 15)
    assert len(graphs) == 2
    first, again = graphs[1], graphs[1]
    assert first is not again  # nothing is kept between reads
    assert abs(first - again).max() == 0
