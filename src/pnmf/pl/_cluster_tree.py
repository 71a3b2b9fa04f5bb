"""The cluster evolution tree across scales (clustree-style)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure

from .. import get
from .._docs import doc_params
from .._keys import DEFAULT_CLUSTER_KEY, DEFAULT_KEY
from .._validation import check_real
from ..get._clusters import cluster_colors, clustering, node_values
from ._colors import CategoricalColors, category_legend, cell_colors
from ._utils import check_plot_options, components, finish, new_axes

__all__ = ["cluster_tree"]

COLORMAP = "viridis"


@doc_params
def cluster_tree(
    adata: AnnData,
    color: str | None = None,
    *,
    key: str = DEFAULT_KEY,
    cluster_key: str = DEFAULT_CLUSTER_KEY,
    min_edge_share: float = 0.1,
    layer: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Draw how clusters split and merge from the coarsest scale (top) to the finest (bottom).

    One row per scale; one node per cluster, its area proportional to its cells; an edge
    from a cluster to each cluster of the next finer scale that shares cells with it, its
    width and opacity the share of the finer cluster's cells that come from it (clustree's
    ``in_prop``). The layout is a dendrogram: the finest clusters evenly spaced in tree
    order, every coarser cluster centred over its children, so a nested clustering (the
    default of :func:`pnmf.tl.leiden`) is drawn without crossing edges and every merge is a
    fork.

    Parameters
    ----------
    adata
        AnnData with ``tl.pnmf`` and ``tl.leiden`` results.
    color
        ``None`` colours nodes by their cluster's colour; an ``adata.obs`` categorical
        column by the category most of its cells have; a numeric column or a gene by the
        mean over its cells.
    {key}
    cluster_key
        ``key_added`` of the ``tl.leiden`` clustering.
    min_edge_share
        Edges carrying less than this share of the finer cluster's cells are hidden.
    layer
        Layer to read gene values from (default ``adata.X``).
    ax
        Axes to draw into.
    {show_return}

    Returns
    -------
    {returns_plot}

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.concentric_circles()
    >>> pnmf.tl.pnmf(adata, n_comps=2, mask_var=None, filtration="rips")
    >>> pnmf.tl.leiden(adata, resolution=0.5)
    >>> ax = pnmf.pl.cluster_tree(adata, color="circle", show=False)
    """
    check_plot_options(show=show, return_fig=return_fig, ax=ax)
    min_edge_share = check_real("min_edge_share", min_edge_share)
    nodes, edges = get.cluster_tree(adata, key=key, cluster_key=cluster_key)
    summary = clustering(adata, key=key, cluster_key=cluster_key)
    table = get.scales(adata, key=key)
    n_scales = len(table)
    positions = _layout(nodes, edges, n_scales)
    node_colors, legend = _node_colors(adata, nodes, color, layer, key=key, cluster_key=cluster_key)

    widest = int(nodes.groupby("scale").size().max())
    fig, (axis,) = new_axes(ax, 1, panel_size=(max(7.0, 0.6 * widest + 4.0), 0.9 * n_scales + 1.5))
    shown = edges[edges["in_prop"] >= min_edge_share]
    segments = [(positions[p], positions[c]) for p, c in zip(shown["parent"], shown["child"], strict=True)]
    edge_colors = [to_rgba("0.25", 0.2 + 0.8 * share) for share in shown["in_prop"]]
    axis.add_collection(
        LineCollection(segments, colors=edge_colors, linewidths=0.5 + 3.5 * shown["in_prop"].to_numpy(), zorder=1)
    )
    xy = np.array([positions[n] for n in nodes["node"]])
    sizes = 600.0 * np.sqrt(nodes["n_cells"].to_numpy() / nodes.groupby("scale")["n_cells"].transform("sum").to_numpy())
    axis.scatter(xy[:, 0], xy[:, 1], s=sizes + 20, c=node_colors, edgecolors="0.2", linewidths=0.6, zorder=2)
    if len(nodes) <= 150:
        for (x, y), cluster in zip(xy, nodes["cluster"], strict=True):
            axis.annotate(cluster, (x, y), ha="center", va="center", fontsize=6, zorder=3)
    axis.set_yticks(range(n_scales))
    axis.set_yticklabels(
        [
            " · ".join(
                filter(
                    None, [f"scale {t}", components(table.loc[t, "n_connected"]), f"{summary.n_clusters[t]} clusters"]
                )
            )
            for t in range(n_scales)
        ],
        fontsize=8,
    )
    axis.set_ylim(-0.6, n_scales - 0.4)
    axis.set_xlim(-0.05, 1.05)
    axis.set_xticks([])
    for side in ("top", "right", "bottom"):
        axis.spines[side].set_visible(False)
    axis.set_title(
        f"clusters across scales (coarse at top; edges ≥ {min_edge_share:.0%} of a cluster's cells)", fontsize=10
    )
    if legend is not None:
        legend(axis)
    return finish(fig, axis, show=show, return_fig=return_fig)


def _layout(nodes: pd.DataFrame, edges: pd.DataFrame, n_scales: int) -> dict[str, tuple[float, float]]:
    """Place the nodes as a dendrogram: the finest row evenly spaced in tree order, every coarser node above its children.

    The finest row's order comes from the top down: each row sorted by the position of each
    cluster's main parent (the coarser cluster holding most of its cells), then by size, so
    siblings sit together and edges do not cross when the clusterings nest. Coarser nodes
    then sit at the cell-weighted mean position of their children.
    """
    main_parent = (
        edges.sort_values("n_cells", ascending=False, kind="stable")
        .drop_duplicates("child")
        .set_index("child")["parent"]
    )
    rank: dict[str, float] = {}
    rows: dict[int, list[str]] = {}
    for scale in reversed(range(n_scales)):
        row = nodes[nodes["scale"] == scale]
        parent_rank = row["node"].map(lambda node: rank.get(main_parent.get(node), 0.0))
        order = (
            row.assign(parent=parent_rank).sort_values(["parent", "n_cells"], ascending=[True, False])["node"].tolist()
        )
        rank.update({node: float(i) for i, node in enumerate(order)})
        rows[scale] = order
    finest = rows[0]
    x = dict(zip(finest, np.linspace(0.0, 1.0, len(finest) + 2)[1:-1] if len(finest) > 1 else [0.5], strict=True))
    for scale in range(1, n_scales):
        incoming = edges[edges["parent_scale"] == scale]
        weighted = (incoming["child"].map(x) * incoming["n_cells"]).groupby(incoming["parent"]).sum()
        centre = weighted / incoming.groupby("parent")["n_cells"].sum()
        x.update({node: float(centre.get(node, 0.5)) for node in rows[scale]})
    return {node: (x[node], float(scale)) for scale, row in rows.items() for node in row}


def _node_colors(
    adata: AnnData, nodes: pd.DataFrame, color: str | None, layer: str | None, *, key: str, cluster_key: str
) -> tuple[list, Callable[[Axes], None] | None]:
    """Colour every node, and return a function that draws the matching legend (or None)."""
    if color is None:
        return cluster_colors(adata, nodes, key=key, cluster_key=cluster_key), None
    colors = cell_colors(adata, color, layer=layer)
    per_node = node_values(adata, nodes, colors.values, key=key, cluster_key=cluster_key)
    if isinstance(colors, CategoricalColors):
        categories = colors

        def legend(axis: Axes) -> None:
            category_legend(axis, categories, title=f"most cells: {categories.name}", fontsize=7)

        return [categories.palette[v] for v in per_node], legend
    norm = Normalize(min(per_node), max(per_node) if max(per_node) > min(per_node) else min(per_node) + 1.0)
    cmap = colormaps[COLORMAP]

    def colorbar(axis: Axes) -> None:
        bar = axis.figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axis, shrink=0.7)
        bar.set_label(f"mean {colors.name}")

    return [cmap(norm(v)) for v in per_node], colorbar
