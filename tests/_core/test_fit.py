"""The whole fit on plain arrays: what tl.pnmf writes is what _core.fit computes; prepare + solve_problem is fit."""

from dataclasses import replace

import numpy as np
import pytest

from pnmf._core import fit as core
from pnmf._core.init import nndsvda
from pnmf._core.scales import recommend_scale
from pnmf._options import PnmfOptions
from pnmf.tl._inputs import read_inputs

OPTIONS = PnmfOptions(4, n_scales=3, max_iter=20, max_sweeps=2)


@pytest.fixture(scope="module")
def inputs(populations_base):
    return read_inputs(populations_base, OPTIONS)


def test_fit_on_arrays_is_what_the_tool_writes(populations, inputs):
    import pnmf

    pnmf.tl.pnmf(populations, **OPTIONS.as_kwargs())
    result = core.fit(inputs.X, inputs.points, inputs.edges, OPTIONS)
    for t, (U, W) in enumerate(zip(result.solution.embeddings, result.solution.loadings, strict=True)):
        np.testing.assert_array_equal(populations.obsm[f"X_pnmf_{t}"], U.astype(inputs.X.dtype))
        np.testing.assert_array_equal(populations.varm[f"pnmf_loadings_{t}"][inputs.genes], W.astype(inputs.X.dtype))
    np.testing.assert_array_equal(populations.uns["pnmf"]["thresholds"], result.problem.thresholds)
    assert populations.uns["pnmf"]["recommended_scale"] == result.recommended


def test_prepare_then_solve_is_fit_and_the_problem_is_reusable(inputs):
    problem = core.prepare(inputs.X, inputs.points, inputs.edges, OPTIONS)
    once = core.solve_problem(problem, OPTIONS)
    again = core.solve_problem(problem, OPTIONS)
    direct = core.fit(inputs.X, inputs.points, inputs.edges, OPTIONS)
    for result in (again, direct):
        for a, b in zip(once.solution.embeddings, result.solution.embeddings, strict=True):
            np.testing.assert_array_equal(a, b)
    assert set(problem.timings) == {"persistence", "graphs", "expression"}
    assert set(once.timings) == {"init", "cross-validation", "solve"}


def test_the_recommended_scale_is_cross_validated(inputs):
    result = core.fit(inputs.X, inputs.points, inputs.edges, OPTIONS)
    problem = result.problem
    assert result.scale_rule == "cross-validated"
    assert result.recommended == result.scale_selection.recommended
    assert result.scale_selection.errors.shape == (len(problem.thresholds),)
    assert np.all(np.diff(problem.thresholds) > 0)
    assert [g.adjacency.shape[0] for g in problem.graphs] == [inputs.X.shape[0]] * len(problem.thresholds)
    given = core.fit(inputs.X, inputs.points, inputs.edges, replace(OPTIONS, graph_weight=3.0))
    assert given.selection is None  # a given λ1 is not cross-validated; the scale still is
    assert given.scale_rule == "cross-validated"


def test_with_too_few_genes_the_recommended_scale_follows_the_component_counts(inputs):
    genes = 6  # fewer than two genes per factor in each half
    result = core.fit(inputs.X[:, :genes], inputs.points, inputs.edges, OPTIONS)
    problem = result.problem
    assert result.scale_selection is None
    assert result.scale_rule == "fallback"
    assert result.recommended == recommend_scale(problem.n_connected, problem.persistence.n_cells)


def test_without_coupling_factors_are_matched_across_scales(inputs):
    uncoupled = replace(OPTIONS, coupling_weight=0.0, graph_weight=0.0)
    result = core.fit(inputs.X, inputs.points, inputs.edges, uncoupled)
    assert result.alignment == "hungarian"
    coupled = core.fit(inputs.X, inputs.points, inputs.edges, OPTIONS)
    assert coupled.alignment == "coupling"
    assert result.similarity.shape == (len(result.problem.thresholds) - 1, 4)
    assert (result.similarity > 0.5).mean() > 0.5  # matched factors stay similar programs


def test_the_graph_weight_alone_couples_the_scales(inputs):
    # λ2 = 0, but a cell that a scale's graph leaves short of a full pull is tied to its
    # coarser embedding through λ1: permuting one scale's factors would change the objective
    result = core.fit(inputs.X, inputs.points, inputs.edges, replace(OPTIONS, coupling_weight=0.0, graph_weight=3.0))
    assert result.alignment == "coupling"


def test_a_single_scale_is_recommended_without_cross_validation(inputs):
    result = core.fit(inputs.X, inputs.points, inputs.edges, replace(OPTIONS, n_scales=1, graph_weight=3.0))
    assert len(result.problem.thresholds) == 1
    assert result.scale_selection is None
    assert result.selection is None
    assert result.scale_rule == "single scale"
    assert result.recommended == 0
    assert "cross-validation" in result.timings


def test_above_max_cells_the_cross_validation_sees_neighbourhoods(inputs):
    problem = core.prepare(inputs.X, inputs.points, inputs.edges, OPTIONS)
    start = nndsvda(problem.expression, OPTIONS.n_comps, OPTIONS.random_state)
    n_cells = problem.expression.shape[0]
    full_weight, full_scales = core.cross_validate(problem, OPTIONS, start)
    weight, scales = core.cross_validate(problem, OPTIONS, start, max_cells=n_cells // 2)
    again = core.cross_validate(problem, OPTIONS, start, max_cells=n_cells // 2)
    assert weight.cross_validated
    assert weight.weight in weight.candidates
    assert scales.errors.shape == full_scales.errors.shape == (len(problem.thresholds),)
    assert ((scales.errors > 0) & (scales.errors < 1)).all()
    # the sampled cells' own errors, not the full fit's; seeded, so the same twice
    assert not np.array_equal(scales.errors, full_scales.errors)
    np.testing.assert_array_equal(again[1].errors, scales.errors)
    np.testing.assert_array_equal(again[0].errors, weight.errors)
    assert full_weight.cross_validated


def test_an_empty_matrix_is_refused_by_name(inputs):
    from pnmf import PnmfValueError

    with pytest.raises(PnmfValueError, match="my matrix has no nonzero values"):
        core.prepare(np.zeros_like(inputs.X.toarray()), inputs.points, inputs.edges, OPTIONS, name="my matrix")
