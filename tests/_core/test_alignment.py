import numpy as np

from pnmf._core.alignment import align_factors, consecutive_similarity


def test_alignment_undoes_a_permutation(rng):
    reference = np.abs(rng.normal(size=(50, 5)))
    shuffled = reference[:, [3, 0, 4, 1, 2]] * 1.1 + 0.01 * np.abs(rng.normal(size=(50, 5)))
    permutations = align_factors([reference, shuffled, shuffled[:, [1, 0, 2, 3, 4]]])
    np.testing.assert_array_equal(permutations[0], np.arange(5))
    np.testing.assert_array_equal(shuffled[:, permutations[1]].argmax(axis=0), reference.argmax(axis=0))
    aligned = [reference, shuffled[:, permutations[1]], shuffled[:, [1, 0, 2, 3, 4]][:, permutations[2]]]
    similarity = consecutive_similarity(aligned)
    assert similarity.shape == (2, 5)
    assert similarity.min() > 0.99


def test_similarity_of_a_single_scale_is_empty(rng):
    assert consecutive_similarity([rng.random((4, 3))]).shape == (0, 3)
