"""pl.k_selection drawn for real with Agg."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

import pnmf


def pixels(fig: Figure) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3]


def test_draws_stability_error_and_the_suggested_k(selected_base):
    before = dict(mpl.rcParams)
    fig = pnmf.pl.k_selection(selected_base, return_fig=True)
    assert isinstance(fig, Figure)
    axis, twin = fig.axes
    stability = pnmf.get.k_selection(selected_base)
    # 2 thin per-scale lines + the mean line + the least-stable-factor line + the suggested-k line
    assert len(axis.lines) == 5
    np.testing.assert_allclose(np.asarray(axis.lines[2].get_ydata(), dtype=float), stability["stability"])
    np.testing.assert_allclose(np.asarray(axis.lines[3].get_ydata(), dtype=float), stability["min_stability"])
    suggested = int(stability.loc[stability["suggested"], "n_comps"].iloc[0])
    assert axis.lines[4].get_xdata()[0] == suggested
    assert any(f"suggested k = {suggested}" in t.get_text() for t in axis.texts)
    np.testing.assert_allclose(np.asarray(twin.lines[0].get_ydata(), dtype=float), stability["error"])
    image = pixels(fig)
    blue = (np.abs(image.astype(int) - [31, 119, 180]).sum(axis=-1) < 30).sum()
    red = (np.abs(image.astype(int) - [214, 39, 40]).sum(axis=-1) < 30).sum()
    assert blue > 50
    assert red > 50
    assert dict(mpl.rcParams) == before
    plt.close(fig)


def test_into_given_axes_without_scale_lines(selected_base):
    fig, ax = plt.subplots()
    returned = pnmf.pl.k_selection(selected_base, scales=False, ax=ax, show=False)
    assert returned is ax
    assert len(ax.lines) == 3
    assert len(fig.axes) == 2
    plt.close(fig)


def test_show_returns_nothing(selected_base):
    assert pnmf.pl.k_selection(selected_base, show=True) is None
    plt.close("all")
