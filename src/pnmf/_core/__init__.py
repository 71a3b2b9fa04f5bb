"""Pure NumPy/SciPy kernels: persistence, scales, graphs, initialization and the solver. No AnnData here."""
