"""Bad input to sparse Jacobians and Hessians: each is a clear error of a precise type."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import anydiff
from anydiff import KnownPattern, ShapeError, SparseBackend
from anydiff.coloring import Coloring, Pattern, decompress

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402


def f3(x: Any) -> Any:
    """R^3 -> R^3 with Jacobian [[x1, x0, 0], [0, 1, 1], [0, 0, 2 x2]]."""
    return jnp.stack([x[0] * x[1], x[1] + x[2], x[2] ** 2])


X = np.array([1.0, 2.0, 3.0])
J_X = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 6.0]])


def scalar(x: Any) -> Any:
    return jnp.sum(x**2) * x[0]


def forward() -> Any:
    return anydiff.JaxBackend("forward")


class Fixed(anydiff.AbstractDetector):
    """A custom detector that returns a fixed pattern, whatever the problem."""

    def __init__(self, pattern: Any) -> None:
        self.pattern = Pattern.of(pattern)

    def detect(self, problem: Any) -> Pattern:
        return self.pattern


# --- patterns that do not fit ------------------------------------------------------------


def test_known_pattern_of_the_wrong_shape_names_both_shapes() -> None:
    backend = SparseBackend(forward(), detector=KnownPattern(np.ones((2, 3))))
    with pytest.raises(ShapeError, match=re.escape("shape (3, 3)")) as info:
        anydiff.jacobian(backend, f3, X)
    assert "(2, 3)" in str(info.value) and "Jacobian" in str(info.value)
    assert isinstance(info.value, ValueError)  # ShapeError stays a ValueError


def test_non_square_known_pattern_for_a_hessian() -> None:
    backend = SparseBackend(forward(), detector=KnownPattern(np.ones((3, 4))))
    with pytest.raises(ShapeError, match=r"Hessian's shape \(3, 3\).*\(3, 4\)"):
        anydiff.hessian(backend, scalar, X)


@pytest.mark.parametrize("shape", [(2, 3), (3, 5)])
def test_custom_detector_returning_the_wrong_shape_for_a_jacobian(shape: tuple) -> None:
    """The plan must check any detector's pattern, not only KnownPattern's, before it
    colors it; otherwise a (3, 5) pattern silently gives a 3 x 5 "Jacobian" of a
    function of 3 inputs."""
    backend = SparseBackend(forward(), detector=Fixed(np.ones(shape)))
    with pytest.raises(ShapeError, match=re.escape(f"{shape}")) as info:
        anydiff.jacobian(backend, f3, X)
    assert "(3, 3)" in str(info.value)


@pytest.mark.parametrize("shape", [(3, 4), (4, 4)])
def test_custom_detector_returning_the_wrong_shape_for_a_hessian(shape: tuple) -> None:
    backend = SparseBackend(forward(), detector=Fixed(np.ones(shape)))
    with pytest.raises(ShapeError, match=re.escape(f"{shape}")) as info:
        anydiff.hessian(backend, scalar, X)
    assert "(3, 3)" in str(info.value)


def test_pattern_missing_a_nonzero_with_check_names_the_entry() -> None:
    pattern = np.eye(3, dtype=bool)
    pattern[1, 2] = True  # misses (0, 1), whose value at X is x0 = 1
    backend = SparseBackend(forward(), detector=KnownPattern(pattern, check=True))
    with pytest.raises(ValueError, match=r"misses 1 nonzero\(s\).*at \(0, 1\) with value 1"):
        anydiff.jacobian(backend, f3, X)


def test_pattern_missing_a_nonzero_without_check_is_accepted() -> None:
    """The documented trade-off of ``check=False`` (the default): the pattern is trusted and
    a nonzero it misses is not in the result. With column compression the missed column
    shares a color with others, so its value may also be added into a stored entry of the
    same row; rows without a missed entry are exact."""
    pattern = np.eye(3, dtype=bool)
    pattern[1, 2] = True
    backend = SparseBackend(forward(), detector=KnownPattern(pattern))
    J = anydiff.jacobian(backend, f3, X)
    assert J.shape == (3, 3)
    assert J.nnz == 4
    stored = set(zip(*Pattern.from_scipy(J).coo()))
    assert (0, 1) not in stored
    np.testing.assert_array_equal(J.toarray()[1:], J_X[1:])


def test_pattern_missing_a_hessian_nonzero_with_check() -> None:
    backend = SparseBackend(forward(), detector=KnownPattern(np.eye(3), check=True))
    with pytest.raises(ValueError, match=r"nonzero\(s\) of the Hessian, the first at \(0, 1\)"):
        anydiff.hessian(backend, scalar, X)


def test_known_pattern_check_passes_on_a_correct_pattern() -> None:
    backend = SparseBackend(forward(), detector=KnownPattern(J_X != 0, check=True))
    np.testing.assert_array_equal(anydiff.jacobian(backend, f3, X).toarray(), J_X)


# --- colorings -----------------------------------------------------------------------------


def test_invalid_coloring_passed_to_decompress() -> None:
    pattern = Pattern.from_dense(J_X != 0)
    bad = Coloring(pattern, np.array([0, 0, 0]), "column")
    with pytest.raises(ValueError, match="column coloring is not valid for this pattern"):
        decompress(bad, J_X @ bad.seed_matrix())


def test_coloring_of_the_wrong_length_passed_to_decompress() -> None:
    pattern = Pattern.from_dense(J_X != 0)
    short = Coloring(pattern, np.array([0, 1]), "column")
    with pytest.raises(ValueError):
        decompress(short, np.ones((3, 2)))


# --- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, value, accepted",
    [
        (
            "coloring",
            "fastest",
            "'natural', 'largest_first', 'smallest_last', "
            "'incidence_degree', 'dynamic_largest_first', 'dsatur', 'random', 'best'",
        ),
        ("hessian_coloring", "greedy", "'auto', 'direct', 'star', 'acyclic', 'column'"),
        ("format", "csr", "'scipy', 'bcoo', 'torch'"),
        ("compression", "both", "'auto', 'column', 'row'"),
    ],
)
def test_unknown_option_strings_list_the_accepted_values(
    option: str, value: str, accepted: str
) -> None:
    message = f"{option} must be one of {accepted}; got {value!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        SparseBackend(forward(), **{option: value})


def test_negative_time_budget() -> None:
    with pytest.raises(ValueError, match="time_budget must be a non-negative"):
        SparseBackend(forward(), time_budget=-1.0)


def test_row_compression_with_a_forward_only_backend() -> None:
    backend = SparseBackend(forward(), compression="row")
    with pytest.raises(ValueError, match="compression='row' needs reverse-mode products"):
        anydiff.jacobian(backend, f3, X)


def test_column_compression_with_a_reverse_only_backend() -> None:
    backend = SparseBackend(anydiff.JaxBackend("reverse"), compression="column")
    with pytest.raises(ValueError, match="compression='column' needs forward-mode products"):
        anydiff.jacobian(backend, f3, X)


# --- what SparseBackend wraps and differentiates ----------------------------------------


def test_sparse_backend_of_a_sparse_backend() -> None:
    with pytest.raises(TypeError, match="SparseBackend wraps a dense anydiff backend"):
        SparseBackend(SparseBackend(forward()))


def test_sparse_backend_of_something_else() -> None:
    with pytest.raises(TypeError, match="SparseBackend wraps a dense anydiff backend"):
        SparseBackend("jax")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="detector must be an anydiff detector"):
        SparseBackend(forward(), detector=np.eye(3))  # type: ignore[arg-type]


def test_sparse_jacobian_of_two_differentiated_inputs() -> None:
    def g(x: Any, y: Any) -> Any:
        return x * y

    with pytest.raises(TypeError, match="differentiates one input; got 2"):
        anydiff.jacobian(SparseBackend(forward()), g, X, X)


def test_sparse_jacobian_of_a_tuple_output() -> None:
    def g(x: Any) -> Any:
        return x, 2.0 * x

    with pytest.raises(TypeError, match="f must return one array, not a tuple of 2"):
        anydiff.jacobian(SparseBackend(forward()), g, X)


def test_sparse_hessian_of_a_vector_function() -> None:
    with pytest.raises(ValueError, match=r"needs f to return a scalar"):
        anydiff.hessian(SparseBackend(anydiff.HigherOrderBackend((forward(), forward()))), f3, X)


def test_prepared_sparse_plan_at_a_point_of_another_shape() -> None:
    plan = anydiff.prepare_jacobian(SparseBackend(forward()), f3, X)
    with pytest.raises(anydiff.PreparationMismatchError):
        plan(np.ones(4))


def test_acyclic_decompressor_refuses_what_substitution_cannot_recover():
    """The substitution order is found when the decompressor is made: a 2-coloring of a
    4-cycle (not acyclic) and a pattern that is not symmetric are refused there, each
    with what was expected."""
    from anydiff import _core

    ring = np.array([[1, 1, 0, 1], [1, 1, 1, 0], [0, 1, 1, 1], [1, 0, 1, 1]], dtype=bool)
    rows, cols = np.nonzero(ring)
    cycle = _core.Pattern.from_coo(4, 4, rows, cols)
    with pytest.raises(ValueError, match="acyclic coloring is not valid"):
        _core.Decompressor(cycle, np.array([0, 1, 0, 1]), "acyclic")
    lower = _core.Pattern.from_coo(2, 2, np.array([0, 1, 1]), np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="symmetric"):
        _core.Decompressor(lower, np.array([0, 1]), "acyclic")
    ok = _core.Decompressor(_core.Pattern.from_coo(4, 4, rows, cols), np.arange(4), "acyclic")
    h = np.where(ring, np.arange(1.0, 17.0).reshape(4, 4), 0.0)
    h = h + h.T
    np.testing.assert_array_equal(ok(h.T.copy()), h[ring])
