"""datasets.concentric_circles: the paper's synthetic setting, seeded and checked."""

import numpy as np
import pytest

import pnmf


def test_circles_have_the_papers_shape_and_are_nonnegative():
    adata = pnmf.datasets.concentric_circles()
    assert adata.shape == (80, 100)
    assert (adata.X >= 0).all()
    assert adata.obs["circle"].cat.categories.tolist() == ["circle_1", "circle_2", "circle_3", "circle_4"]
    assert adata.obs["circle"].value_counts().eq(20).all()
    assert adata.var["signal"].sum() == 3
    assert adata.var_names[:3].tolist() == ["signal_0", "signal_1", "signal_2"]


def test_each_circle_lies_at_its_radius_around_a_common_centre():
    adata = pnmf.datasets.concentric_circles(jitter=0.0, random_state=1)
    signal = adata.X[:, adata.var["signal"].to_numpy()]
    labels = adata.obs["circle"].to_numpy()
    centres = np.stack([signal[labels == c].mean(axis=0) for c in adata.obs["circle"].cat.categories])
    np.testing.assert_allclose(
        centres - centres[0], 0.0, atol=1e-9
    )  # evenly spaced angles: every centroid is the centre
    for circle, radius in zip(adata.obs["circle"].cat.categories, (5.0, 10.0, 20.0, 50.0), strict=True):
        distances = np.linalg.norm(signal[labels == circle] - centres[0], axis=1)
        np.testing.assert_allclose(distances, radius, rtol=1e-9)


def test_same_seed_same_data_other_seed_differs():
    a, b = pnmf.datasets.concentric_circles(random_state=3), pnmf.datasets.concentric_circles(random_state=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.allclose(a.X, pnmf.datasets.concentric_circles(random_state=4).X)


def test_sizes_follow_the_arguments():
    adata = pnmf.datasets.concentric_circles(7, radii=(1.0, 2.0), n_noise_dims=0)
    assert adata.shape == (14, 3)
    np.testing.assert_array_equal(adata.obs["radius"].unique(), [1.0, 2.0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_per_circle": 2}, ValueError, "n_per_circle=2 is out of range"),
        ({"n_noise_dims": -1}, ValueError, "n_noise_dims=-1 is out of range"),
        ({"jitter": -0.1}, ValueError, "jitter=-0.1 is invalid"),
        ({"noise": float("inf")}, ValueError, "noise=inf is invalid"),
        ({"radii": []}, ValueError, "radii must be a non-empty sequence of positive numbers"),
        ({"radii": (1.0, -2.0)}, ValueError, "radii must be a non-empty sequence of positive numbers"),
        ({"n_per_circle": 2.5}, TypeError, "n_per_circle must be an integer"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match) as raised:
        pnmf.datasets.concentric_circles(**kwargs)
    assert isinstance(raised.value, pnmf.PnmfError)
