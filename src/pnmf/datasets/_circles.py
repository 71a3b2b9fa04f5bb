"""The paper's synthetic setting: noisy concentric circles hidden among noise dimensions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import PnmfValueError
from .._validation import check_int, check_real, check_seed

__all__ = ["concentric_circles"]


def concentric_circles(
    n_per_circle: int = 20,
    radii: Sequence[float] = (5.0, 10.0, 20.0, 50.0),
    *,
    n_noise_dims: int = 97,
    jitter: float = 0.5,
    noise: float = 1.0,
    random_state: int | np.random.RandomState | None = 0,
) -> AnnData:
    """Concentric circles in 3 signal coordinates plus noise coordinates, all nonnegative.

    Each circle lies in its own randomly tilted plane through a common centre, so the
    circles are nested in space: at fine scales they are apart, and as the scale grows the
    inner ones merge first. Points on a circle are evenly spaced in angle with Gaussian
    jitter; the noise coordinates are Gaussian around 5. Everything is shifted to be
    nonnegative, as pNMF needs.

    Parameters
    ----------
    n_per_circle
        Points per circle (the paper: 20).
    radii
        Radius of each circle, inner to outer (the paper: four circles).
    n_noise_dims
        Number of pure-noise coordinates (the paper: 97, for 100 in all).
    jitter
        Standard deviation of the Gaussian jitter added to the 3 signal coordinates.
    noise
        Standard deviation of the noise coordinates.
    random_state
        Seed.

    Returns
    -------
    AnnData with ``n_per_circle * len(radii)`` cells × ``3 + n_noise_dims`` features;
    ``obs['circle']`` (categorical, ``'circle_1'`` innermost) and ``obs['radius']``;
    ``var['signal']`` marks the three signal coordinates.

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.concentric_circles()
    >>> adata.shape
    (80, 100)
    """
    n_per_circle = check_int("n_per_circle", n_per_circle, minimum=3)
    n_noise_dims = check_int("n_noise_dims", n_noise_dims, minimum=0)
    jitter, noise = check_real("jitter", jitter), check_real("noise", noise)
    radius_values = np.asarray(radii, dtype=np.float64)
    if (
        radius_values.ndim != 1
        or radius_values.size == 0
        or not np.isfinite(radius_values).all()
        or (radius_values <= 0).any()
    ):
        msg = f"radii must be a non-empty sequence of positive numbers, got {radius_values.tolist()}."
        raise PnmfValueError(msg)
    rng = np.random.default_rng(check_seed("random_state", random_state))
    angles = 2 * np.pi * np.arange(n_per_circle) / n_per_circle
    circles = []
    for radius in radius_values:
        basis, _ = np.linalg.qr(rng.normal(size=(3, 2)))  # a random plane through the centre
        circle = radius * (np.cos(angles)[:, None] * basis[:, 0] + np.sin(angles)[:, None] * basis[:, 1])
        circles.append(circle + rng.normal(scale=jitter, size=circle.shape))
    signal = np.vstack(circles)
    signal -= signal.min(axis=0) - 1.0
    noise_part = np.clip(rng.normal(loc=5.0, scale=noise, size=(len(signal), n_noise_dims)), 0.0, None)
    labels = np.repeat([f"circle_{i + 1}" for i in range(len(radius_values))], n_per_circle)
    obs = pd.DataFrame(
        {"circle": pd.Categorical(labels), "radius": np.repeat(radius_values, n_per_circle)},
        index=[f"point_{i}" for i in range(len(labels))],
    )
    var = pd.DataFrame(
        {"signal": np.r_[np.ones(3, dtype=bool), np.zeros(n_noise_dims, dtype=bool)]},
        index=[f"signal_{i}" for i in range(3)] + [f"noise_{i}" for i in range(n_noise_dims)],
    )
    return AnnData(np.hstack([signal, noise_part]), obs=obs, var=var)
