"""The options of one fit of the multi-scale model, validated once and passed down as one object.

``tl.pnmf`` keeps scanpy's flat signature and turns it into a :class:`PnmfOptions` at
once; the command line, ``tl.select_k``, ``tl.consensus`` and the baselines of
``tl.score_scales`` build theirs the same way or from a result's manifest, and derive
variants with :func:`dataclasses.replace` (which validates again). The defaults of those
signatures are read from here, so there is one place to change one.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

import numpy as np

from ._errors import PnmfTypeError, PnmfValueError
from ._validation import check_bool, check_choice, check_int, check_real, check_seed

__all__ = ["DEFAULT_N_SCALES", "HVG_IF_PRESENT", "PnmfOptions"]

#: Scales chosen by ``scales='auto'`` when ``n_scales`` is not given.
DEFAULT_N_SCALES = 8


class _HvgIfPresent:
    """Default of ``mask_var``: ``var['highly_variable']`` when present, else all genes."""

    def __repr__(self) -> str:
        return "'highly_variable' if present"


HVG_IF_PRESENT: Final = _HvgIfPresent()

MaskVar = np.ndarray | Sequence[bool] | str | _HvgIfPresent | None


@dataclass(frozen=True, eq=False)
class PnmfOptions:
    """Every option of :func:`pnmf.tl.pnmf` that shapes the fit (see there for their meaning).

    Construction validates each option on its own (types, ranges, choices); what depends on
    the data (``n_comps`` against the matrix, ``layer``, ``use_rep``, ``mask_var``,
    ``neighbors_key``) is checked when the data are read. ``graph_weight='auto'`` is
    resolved by the fit, which returns its options with the weight it chose. ``scales`` given as thresholds is
    kept as a sorted tuple, ``random_state`` as an integer seed (a ``RandomState`` gives
    its next draw) or ``None``.
    """

    n_comps: int = 20
    n_scales: int | None = None
    scales: Literal["auto", "all"] | Sequence[float] = "auto"
    filtration: Literal["knn", "rips"] = "knn"
    layer: str | None = None
    mask_var: MaskVar = HVG_IF_PRESENT
    use_rep: str = "X_pca"
    n_pcs: int | None = None
    neighbors_key: str | None = None
    batch_key: str | None = None
    integration_steps: int = 8
    graph_weight: float | Literal["auto"] = "auto"
    coupling_weight: float = 1.0
    anchor_weight: float = 0.0
    pooling_weight: float = 10.0
    normalize: bool = True
    max_iter: int = 200
    max_sweeps: int = 50
    tol: float = 1e-4
    random_state: int | None = 0  # a numpy RandomState is accepted too, and replaced by its next draw

    def __post_init__(self) -> None:
        checked: dict[str, Any] = {
            "normalize": check_bool("normalize", self.normalize),
            "random_state": check_seed("random_state", self.random_state),
            "filtration": check_choice("filtration", self.filtration, ("knn", "rips")),
            "graph_weight": (
                check_choice("graph_weight", self.graph_weight, ("auto",))
                if isinstance(self.graph_weight, str)
                else check_real("graph_weight", self.graph_weight)
            ),
            "coupling_weight": check_real("coupling_weight", self.coupling_weight),
            "anchor_weight": check_real("anchor_weight", self.anchor_weight),
            "pooling_weight": check_real("pooling_weight", self.pooling_weight),
            "max_iter": check_int("max_iter", self.max_iter, minimum=1),
            "integration_steps": check_int("integration_steps", self.integration_steps, minimum=0),
            "max_sweeps": check_int("max_sweeps", self.max_sweeps, minimum=0),
            "tol": check_real("tol", self.tol),
        }
        if self.n_scales is not None:
            if not (isinstance(self.scales, str) and self.scales == "auto"):
                msg = f"n_scales={self.n_scales} conflicts with scales={self.scales!r}; pass one of them (n_scales only applies to scales='auto')."
                raise PnmfValueError(msg)
            checked["n_scales"] = check_int("n_scales", self.n_scales, minimum=1)
        checked["scales"] = _check_scales(self.scales)
        checked["n_comps"] = check_int("n_comps", self.n_comps, minimum=1)
        if self.n_pcs is not None:
            checked["n_pcs"] = check_int("n_pcs", self.n_pcs, minimum=1)
        if self.batch_key is not None and not isinstance(self.batch_key, str):
            msg = f"batch_key must be the name of a column of adata.obs, got {self.batch_key!r}."
            raise PnmfTypeError(msg)
        if self.batch_key is not None and self.filtration == "rips":
            msg = (
                "batch_key needs filtration='knn': the Vietoris–Rips filtration joins cells by their distances "
                "alone and cannot balance the batches."
            )
            raise PnmfValueError(msg)
        if not (self.mask_var is None or self.mask_var is HVG_IF_PRESENT or isinstance(self.mask_var, str)):
            checked["mask_var"] = np.asarray(self.mask_var)  # a mask: checked against the genes when read
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def collect(cls, arguments: Mapping[str, Any], **overrides: Any) -> PnmfOptions:
        """Build the options from a tool's arguments (e.g. its ``locals()``): every field taken by its name.

        Tools whose signature repeats the options (``tl.pnmf``, ``tl.select_k``) pass
        them on this way, so none is forgotten; ``overrides`` replace or add fields.
        """
        values = {f.name: arguments[f.name] for f in fields(cls) if f.name in arguments}
        return cls(**{**values, **overrides})

    def as_kwargs(self) -> dict[str, Any]:
        """Return the options as keyword arguments of :func:`pnmf.tl.pnmf`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_uns(self) -> dict[str, Any]:
        """Return the options as a manifest stores them; :meth:`from_uns` gives them back unchanged.

        h5ad stores no ``None``: an option that is ``None`` is left out when ``None`` is its
        default, and written as ``False`` otherwise (``random_state=None``, ``mask_var=None``),
        a value those options never take. ``mask_var``'s default is left out too.
        Thresholds are a float array; a boolean mask stays an array.
        """
        stored: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                if f.default is None:
                    continue
                value = False
            elif value is HVG_IF_PRESENT:
                continue
            elif f.name == "scales" and not isinstance(value, str):
                value = np.asarray(value, dtype=np.float64)
            stored[f.name] = value
        return stored

    @classmethod
    def from_uns(cls, params: Mapping[str, Any], **overrides: Any) -> PnmfOptions:
        """Read the options from a manifest's ``params`` (other entries there are ignored).

        ``overrides`` replace fields before the options are validated, e.g. the thresholds
        of a result whose ``params`` predate the explicit thresholds (``scales='explicit'``).
        """
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in params or f.name in overrides:
                continue
            try:
                values[f.name] = _stored_option(f.name, params[f.name], f.default)
            except (TypeError, ValueError) as error:
                msg = f"params[{f.name!r}]={params[f.name]!r} is not a value of the option {f.name}; it was edited. Rerun the tool that wrote these params."
                raise PnmfTypeError(msg) from error
        values.update(overrides)
        if values.get("scales") == "explicit":
            msg = (
                "These params record scales='explicit' without the thresholds; pass scales=<the manifest's thresholds>."
            )
            raise PnmfValueError(msg)
        return cls(**values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PnmfOptions):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    __hash__ = None  # type: ignore[assignment]  # a mask_var array is mutable


def _stored_option(name: str, value: Any, default: Any) -> Any:
    """Return an option as :meth:`PnmfOptions.to_uns` stored it, back in the form the options take."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        value = value.item()
    if value is False and default is not None and not isinstance(default, bool):
        return None  # see to_uns
    if name == "scales" and not isinstance(value, str):
        return tuple(float(v) for v in np.asarray(value).ravel())
    return value


def _check_scales(scales: object) -> str | tuple[float, ...]:
    """``'auto'``, ``'all'``, or positive finite distinct thresholds, returned sorted."""
    if isinstance(scales, str):
        return check_choice("scales", scales, ("auto", "all"))
    if isinstance(scales, numbers.Number | np.generic) or (isinstance(scales, np.ndarray) and scales.ndim == 0):
        number = np.asarray(scales).item()
        msg = (
            f"scales={number!r} is a single number; scales takes 'auto', 'all' or a sequence of thresholds. "
            f"For {number!r} scales pass n_scales={number!r}; for one threshold pass scales=[{number!r}]."
        )
        raise PnmfTypeError(msg)
    try:
        thresholds = np.asarray(scales, dtype=np.float64).ravel()
    except (TypeError, ValueError) as error:
        msg = f"scales must be 'auto', 'all' or a sequence of positive thresholds, got {scales!r}."
        raise PnmfTypeError(msg) from error
    if thresholds.size == 0:
        msg = "scales is an empty sequence; pass positive thresholds, or scales='auto'."
        raise PnmfValueError(msg)
    if not np.isfinite(thresholds).all() or (thresholds <= 0).any():
        msg = f"scales must be positive finite thresholds, got {thresholds.tolist()}."
        raise PnmfValueError(msg)
    if len(np.unique(thresholds)) < len(thresholds):
        msg = f"scales contains duplicated thresholds {thresholds.tolist()}; pass each threshold once."
        raise PnmfValueError(msg)
    return tuple(float(t) for t in np.sort(thresholds))


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b
