import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import kneighbors_graph

from pnmf._core.hierarchy import (
    BAR_GROWTH,
    _closest_child,
    by_size,
    join_populations,
    merge_across_scales,
    merge_clusters,
    nesting,
    pair_separation,
    vote,
)


def test_pair_separation_is_the_centroid_distance_in_pooled_standard_deviations(rng):
    a = rng.normal(0.0, 1.0, size=(4000, 3))
    b = rng.normal(0.0, 1.0, size=(4000, 3)) + np.array([6.0, 0.0, 0.0])
    # a wide spread orthogonal to the line between the centroids must not count
    b[:, 1] *= 5
    labels = np.repeat([0, 1], 4000)
    separation = pair_separation(np.vstack([a, b]), labels, 2)
    assert separation[0, 1] == pytest.approx(6.0, rel=0.05)
    assert separation[0, 0] == np.inf


@pytest.mark.parametrize("seed", range(4))
def test_pair_separation_of_every_pair_projects_the_cells_on_the_line_between_centroids(seed):
    generator = np.random.default_rng(seed)
    n_clusters = 9
    labels = np.concatenate([np.arange(n_clusters), generator.integers(0, n_clusters, 400)])
    points = generator.normal(scale=3.0, size=(n_clusters, 5))[labels] + generator.normal(size=(len(labels), 5))
    points[labels == 2] = points[labels == 7] = 1.0  # every cell of two clusters at one point: the same centroid
    points[labels == 4], points[labels == 5] = 2.0, 3.0  # no spread at all: apart without bound
    separation = pair_separation(points, labels, n_clusters)
    for a, b in itertools.combinations(range(n_clusters), 2):
        centre_a, centre_b = points[labels == a].mean(axis=0), points[labels == b].mean(axis=0)
        distance = np.linalg.norm(centre_a - centre_b)
        if {a, b} == {2, 7}:
            assert separation[a, b] == separation[b, a] == 0.0
            continue
        direction = (centre_a - centre_b) / distance
        spread_a = ((points[labels == a] - centre_a) @ direction).var()
        pooled = 0.5 * (spread_a + ((points[labels == b] - centre_b) @ direction).var())
        expected = distance / np.sqrt(pooled) if pooled > 0 else np.inf  # e.g. clusters 2, 4 and 5
        assert separation[a, b] == separation[b, a] == pytest.approx(expected, rel=1e-9)
    assert np.isinf(np.diagonal(separation)).all()


def test_merge_clusters_joins_split_populations_and_keeps_separated_ones(rng):
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [12.0, 0.0]])  # two overlapping populations and a far one
    population = np.repeat([0, 1, 2], 300)
    points = centres[population] + rng.normal(size=(900, 2))
    # the finest clusters split every population in two at random
    fine = population * 2 + rng.integers(0, 2, 900)
    groups = merge_clusters(points, fine)
    merged = groups[fine]
    assert len(np.unique(merged)) == 2
    assert len(np.unique(merged[population < 2])) == 1
    assert set(merged[population == 2]).isdisjoint(merged[population < 2])
    # 0 is the largest group
    assert np.bincount(merged).argmax() == 0


def test_a_high_threshold_merges_everything_and_a_zero_threshold_nothing(rng):
    points = rng.normal(size=(60, 3))
    fine = np.arange(60) % 6
    assert len(np.unique(merge_clusters(points, fine, threshold=1e9))) == 1
    assert len(np.unique(merge_clusters(points, fine, threshold=0.0))) == 6


def test_clusters_that_one_population_holds_are_joined_however_far_apart(rng):
    # four far-apart clusters: the separations alone keep all four
    points = np.repeat(np.array([[0.0], [50.0], [100.0], [150.0]]), 100, axis=0) + rng.normal(size=(400, 1))
    fine = np.repeat(np.arange(4), 100)
    assert len(np.unique(merge_clusters(points, fine))) == 4
    # persistence joins clusters 0 and 1 into one population and 2 into another; 3 is in none
    populations = np.repeat([0, 0, 1, -1], 100)
    groups = merge_clusters(points, fine, populations=populations)
    assert groups[0] == groups[1]
    assert len(np.unique(groups)) == 3
    # no populations at all: the separations alone
    assert len(np.unique(merge_clusters(points, fine, populations=np.full(400, -1)))) == 4


def test_a_population_joins_only_the_clusters_it_holds_most_of():
    fine = np.repeat([0, 1, 2], 10)
    groups = np.arange(3)
    # population 0 holds all of cluster 0, 6 of cluster 1's 10 cells and half of cluster 2's
    populations = np.concatenate([np.zeros(10), [0] * 6 + [-1] * 4, [0] * 5 + [1] * 5]).astype(np.int64)
    joined = join_populations(fine, groups, populations)
    assert joined[0] == joined[1]
    assert joined[2] != joined[0]
    # a group already made of two clusters is judged by all its cells: clusters 1 and 2
    # together have 11 of their 20 cells in population 0, which then holds both groups
    joined = join_populations(fine, np.array([0, 1, 1]), populations)
    assert len(np.unique(joined)) == 1
    # population 1 holds none: half is not most
    assert len(np.unique(join_populations(fine, groups, np.where(populations == 0, -1, populations)))) == 3


def test_the_tree_falls_where_persistence_joins_populations(rng):
    # the same far-apart clusters at every scale: only the populations can merge them
    points = np.repeat(np.array([[0.0], [50.0], [100.0], [150.0]]), 100, axis=0) + rng.normal(size=(400, 1))
    fine = np.repeat(np.arange(4), 100)
    populations = [np.full(400, -1), np.repeat([0, 0, 1, 2], 100), np.repeat([0, 0, 1, 1], 100)]
    levels = merge_across_scales([points] * 3, fine, thresholds=[1.0, 1.0, 1.0], populations=populations)
    assert [len(np.unique(level)) for level in levels] == [4, 3, 2]
    for finer, coarser in itertools.pairwise(levels):
        assert nesting(finer, coarser) == 1.0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_scales=st.integers(1, 5), n_fine=st.integers(1, 12))
def test_levels_nest_and_never_gain_clusters(seed, n_scales, n_fine):
    generator = np.random.default_rng(seed)
    embeddings = [generator.normal(size=(80, 4)) * generator.uniform(0.1, 2.0) for _ in range(n_scales)]
    fine = generator.integers(0, n_fine, 80)
    thresholds = np.sort(generator.uniform(1.0, 3.0, n_scales))
    populations = [generator.integers(-1, 3, 80) for _ in range(n_scales)]
    levels = merge_across_scales(
        embeddings, fine, thresholds, separation=generator.uniform(0.5, 3.0), populations=populations
    )
    counts = [len(np.unique(level)) for level in levels]
    assert counts[0] <= len(np.unique(fine))
    assert all(b <= a for a, b in itertools.pairwise(counts))
    assert nesting(fine, levels[0]) == 1.0
    for finer, coarser in itertools.pairwise(levels):
        assert nesting(finer, coarser) == 1.0


def test_the_bar_grows_with_the_scale_threshold(rng):
    # the same embedding at every scale: only the growing bar can merge more at coarser scales
    centres = np.array([[0.0], [3.0], [6.0], [30.0]])
    population = np.repeat(np.arange(4), 200)
    points = centres[population] + rng.normal(size=(800, 1))
    levels = merge_across_scales([points] * 3, population, thresholds=[1.0, 2.5, 20.0])
    assert [len(np.unique(level)) for level in levels] == [4, 2, 1]


def test_the_bar_grows_faster_than_the_threshold(rng):
    # two populations 3 pooled SDs apart; a scale whose threshold is 1.4 times the finest one
    population = np.repeat([0, 1], 2000)
    points = np.array([[0.0], [3.0]])[population] + rng.normal(size=(4000, 1))
    ratio = 1.4
    assert 2.0 * ratio < 3.0 < 2.0 * ratio**BAR_GROWTH  # a bar linear in the threshold keeps them apart
    levels = merge_across_scales([points, points], population, thresholds=[1.0, ratio])
    assert [len(np.unique(level)) for level in levels] == [2, 1]


def test_nesting_counts_cells_outside_their_main_parent():
    fine = np.array([0, 0, 0, 0, 1, 1])
    coarse = np.array([0, 0, 0, 1, 1, 1])
    assert nesting(fine, coarse) == pytest.approx(5 / 6)


def test_by_size_numbers_the_largest_cluster_zero():
    assert by_size(np.array([7, 3, 3, 3, 7, 5])).tolist() == [1, 0, 0, 0, 1, 2]


def test_vote_moves_a_cell_to_the_cluster_of_most_of_its_neighbours():
    # cell 0 (cluster 1) has two neighbours in cluster 0 and one in cluster 1;
    # cell 3 is tied between its own cluster and another; cell 5 has no neighbours
    edges = [(0, 1, 1.0), (0, 2, 1.0), (0, 4, 1.0), (3, 1, 1.0), (3, 4, 1.0)]
    rows, cols, weights = zip(*edges, strict=True)
    graph = sparse.coo_matrix((weights, (rows, cols)), shape=(6, 6)).tocsr()
    graph = graph + graph.T
    labels = np.array([1, 0, 0, 1, 1, 2])
    moved = vote(graph, labels)
    assert moved.tolist()[0] == 0
    assert moved[3] == 1  # a tie keeps the cell where it is
    assert moved[5] == 2  # no neighbours: stays, and its cluster survives
    # every cell moves at once: cell 4 votes with the labels before the sweep
    assert moved[4] == 1


@given(seed=st.integers(0, 10_000), n_clusters=st.integers(1, 6), density=st.floats(0.0, 0.5))
@settings(max_examples=60, deadline=None)
def test_vote_moves_to_the_lowest_numbered_of_equally_heavy_clusters(seed, n_clusters, density):
    generator = np.random.default_rng(seed)
    n_cells = 40
    # small integer weights, so that clusters often tie; some cells without neighbours
    graph = sparse.random(n_cells, n_cells, density=density, random_state=seed, format="csr")
    graph.data = generator.integers(1, 3, len(graph.data)).astype(float)
    labels = generator.integers(0, n_clusters, n_cells)
    weight = np.zeros((n_cells, n_clusters))
    np.add.at(weight, (np.repeat(np.arange(n_cells), np.diff(graph.indptr)), labels[graph.indices]), graph.data)
    heaviest = weight.argmax(axis=1)  # the first, i.e. lowest-numbered, maximum
    expected = np.where(weight.max(axis=1) > weight[np.arange(n_cells), labels], heaviest, labels)
    np.testing.assert_array_equal(vote(graph, labels), expected)


def test_vote_weighs_the_edges():
    graph = sparse.csr_matrix(np.array([[0, 3.0, 1.0, 1.0], [3.0, 0, 0, 0], [1.0, 0, 0, 0], [1.0, 0, 0, 0]]))
    assert vote(graph, np.array([2, 0, 1, 1]))[0] == 0


def _two_populations(rng, n=400):
    population = np.repeat([0, 1], n // 2)
    # scale 0 barely separates the populations, scale 1 separates them well
    fine_view = population[:, None] * np.array([1.5, 0.0]) + rng.normal(size=(n, 2))
    coarse_view = population[:, None] * np.array([8.0, 0.0]) + rng.normal(size=(n, 2))
    return population, fine_view, coarse_view


def test_a_coarser_scale_moves_cells_that_the_finest_clusters_misplaced(rng):
    population, fine_view, coarse_view = _two_populations(rng)
    # the finest clusters cut the populations at the wrong place for 10 % of the cells
    finest = population.copy()
    wrong = rng.choice(len(population), 40, replace=False)
    finest[wrong] = 1 - finest[wrong]
    assert adjusted_rand_score(population, finest) < 0.7
    graphs = [None, kneighbors_graph(coarse_view, 10, include_self=False)]
    levels = merge_across_scales([fine_view, coarse_view], finest, separation=0.5, graphs=graphs)
    # scale 1 moves them; the finest level follows, so the levels still nest
    assert adjusted_rand_score(population, levels[1]) == 1.0
    assert adjusted_rand_score(population, levels[0]) == 1.0
    # without graphs the merge tree alone cannot undo the finest clusters' mistakes
    tree = merge_across_scales([fine_view, coarse_view], finest, separation=0.5)
    assert adjusted_rand_score(finest, tree[1]) == 1.0


def test_cells_carry_their_voted_cluster_up_the_tree(rng):
    population, _, coarse_view = _two_populations(rng)
    finest = population * 2 + rng.integers(0, 2, len(population))  # each population split in two
    finest[:20] = 2  # 20 cells of population 0 put into a cluster of population 1
    graph = kneighbors_graph(coarse_view, 10, include_self=False)
    # the halves of each population merge at once; only scale 1 votes
    levels = merge_across_scales([coarse_view] * 3, finest, thresholds=[1.0] * 3, graphs=[None, graph, None])
    assert [len(np.unique(level)) for level in levels] == [2, 2, 2]
    # scale 2 does not vote, yet keeps the misplaced cells where scale 1 moved them
    for level in levels:
        assert adjusted_rand_score(population, level) == 1.0


def test_a_moved_cell_joins_the_child_holding_its_neighbours(rng):
    # finer clusters 0 and 1 lie in coarser cluster 0, finer cluster 2 in coarser cluster 1
    parent = np.array([0, 0, 1])
    points = np.array([[0.0], [0.1], [10.0], [10.1], [20.0], [5.0]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    # the last cell moved to coarser cluster 0; it lies nearest cluster 0's centroid but its
    # neighbours are in cluster 1
    graph = sparse.csr_matrix(([1.0, 1.0], ([5, 5], [2, 3])), shape=(6, 6))
    outside = np.array([False] * 5 + [True])
    targets = np.array([0, 0, 0, 0, 1, 0])
    assert _closest_child(points, graph, labels, outside, targets, parent).tolist() == [1]
    # without a graph (or without neighbours among the children): the nearest centroid
    assert _closest_child(points, None, labels, outside, targets, parent).tolist() == [0]
    assert _closest_child(points, sparse.csr_matrix((6, 6)), labels, outside, targets, parent).tolist() == [0]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_scales=st.integers(1, 5), n_fine=st.integers(1, 12))
def test_votes_never_add_clusters(seed, n_scales, n_fine):
    generator = np.random.default_rng(seed)
    embeddings = [generator.normal(size=(80, 3)) * generator.uniform(0.1, 2.0) for _ in range(n_scales)]
    graphs = [sparse.random(80, 80, density=0.1, random_state=seed + t, format="csr") for t in range(n_scales)]
    fine = generator.integers(0, n_fine, 80)
    thresholds = np.sort(generator.uniform(1.0, 3.0, n_scales))
    levels = merge_across_scales(embeddings, fine, thresholds, generator.uniform(0.5, 3.0), graphs=graphs)
    counts = [len(np.unique(level)) for level in levels]
    assert counts[0] <= len(np.unique(fine))
    assert all(b <= a for a, b in itertools.pairwise(counts))
    for level in levels:
        assert np.bincount(level).argmax() == 0
    for finer, coarser in itertools.pairwise(levels):
        assert nesting(finer, coarser) == 1.0


def test_one_graph_per_scale_is_required(rng):
    points = rng.normal(size=(30, 2))
    with pytest.raises(ValueError, match="got 1 graphs for 2 embeddings"):
        merge_across_scales([points, points], np.arange(30) % 3, graphs=[None])


def merged_by_recomputing(points, labels, groups, threshold):
    """Average-linkage merging with every linkage summed again over the cluster pairs at each step."""
    n_clusters = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=n_clusters).astype(float)
    separation = pair_separation(points, labels, n_clusters)
    np.fill_diagonal(separation, 0.0)
    weights = np.outer(sizes, sizes)
    _, groups = np.unique(np.arange(n_clusters) if groups is None else groups, return_inverse=True)
    while groups.max() > 0:
        members = np.eye(groups.max() + 1)[groups]
        linkage = (members.T @ (weights * separation) @ members) / (members.T @ weights @ members)
        np.fill_diagonal(linkage, np.inf)
        a, b = np.unravel_index(np.argmin(linkage), linkage.shape)
        if linkage[a, b] >= threshold:
            break
        _, groups = np.unique(np.where(groups == max(a, b), min(a, b), groups), return_inverse=True)
    return by_size(groups, weights=sizes)


@pytest.mark.parametrize("seed", range(12))
def test_merging_updates_the_linkage_as_summing_it_again_would(seed):
    generator = np.random.default_rng(seed)
    n_clusters = int(generator.integers(2, 40))
    centres = generator.normal(scale=3.0, size=(n_clusters, 4))
    labels = np.concatenate([np.arange(n_clusters), generator.integers(0, n_clusters, 600)])
    points = centres[labels] + generator.normal(size=(len(labels), 4))
    groups = None if seed % 2 else generator.integers(0, max(n_clusters // 2, 1), n_clusters)
    threshold = float(generator.uniform(1.0, 6.0))
    merged = merge_clusters(points, labels, groups, threshold)
    np.testing.assert_array_equal(merged, merged_by_recomputing(points, labels, groups, threshold))
    assert 1 <= merged.max() + 1 <= n_clusters
