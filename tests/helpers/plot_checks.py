"""Checks that a figure was rendered for real (Agg) and drew something."""

import matplotlib.pyplot as plt
import numpy as np


def pixels(fig):
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    return image


def assert_drawn(fig):
    image = pixels(fig)
    non_white = np.mean(np.any(image < 240, axis=-1))
    assert non_white > 0.02, "the figure is (almost) blank"
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10


def drawn_share(fig, ax):
    """Share of the pixels inside ``ax`` (its frame) that are not white, the figure rendered as it stands."""
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    box = ax.get_window_extent()
    height = image.shape[0]
    rows = slice(int(height - box.y1), int(height - box.y0))
    columns = slice(int(box.x0), int(box.x1))
    region = image[rows, columns]
    return float(np.mean(np.any(region < 240, axis=-1))), len(np.unique(region.reshape(-1, 3), axis=0))
