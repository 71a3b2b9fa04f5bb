"""pl.convergence: the objective along the path and over the sweeps."""

import numpy as np
from plot_checks import assert_drawn

import pnmf


def test_convergence_plot(result):
    fig = pnmf.pl.convergence(result, return_fig=True)
    path, sweeps = fig.axes[:2]
    assert len(path.lines) == 4
    history = pnmf.get.history(result)
    np.testing.assert_allclose(sweeps.lines[0].get_ydata(), history[history["phase"] == "sweep"]["objective"])
    assert_drawn(fig)
