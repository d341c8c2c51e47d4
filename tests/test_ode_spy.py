"""The stiff-ODE helper and the spy plot."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import anydiff
from anydiff.coloring import Pattern, color_columns


def chain(t: float, y: np.ndarray, k: float) -> np.ndarray:
    """A stiff chain: y_i' = -k y_i + y_{i-1}^2 + sin(t)."""
    return -k * y + np.concatenate([[0.0], y[:-1] ** 2]) + np.sin(t)


def chain_jacobian(y: np.ndarray, k: float) -> np.ndarray:
    jac = -k * np.eye(len(y))
    jac[np.arange(1, len(y)), np.arange(len(y) - 1)] = 2.0 * y[:-1]
    return jac


@pytest.mark.parametrize("method", ["BDF", "Radau"])
def test_ode_jacobian_matches_the_closed_form_and_drives_solve_ivp(method: str) -> None:
    y0 = np.linspace(0.1, 1.0, 40)
    jac = anydiff.ode_jacobian(chain, y0, 50.0, backend=anydiff.FiniteDifferences("central5"))
    assert jac.ncolors == 2
    y = np.linspace(-1.0, 2.0, 40)
    np.testing.assert_allclose(jac.jac(0.3, y).toarray(), chain_jacobian(y, 50.0), atol=1e-8)
    np.testing.assert_allclose(jac.jac(0.3, y, 7.0).toarray(), chain_jacobian(y, 7.0), atol=1e-8)
    assert np.array_equal(jac.jac_sparsity.toarray() != 0, chain_jacobian(np.ones(40), 1.0) != 0)
    with_jac = solve_ivp(chain, (0, 1), y0, method=method, args=(50.0,), jac=jac.jac, rtol=1e-8)
    exact = solve_ivp(
        chain, (0, 1), y0, method=method, args=(50.0,), rtol=1e-8,
        jac=lambda t, y, k: chain_jacobian(y, k),
    )  # fmt: skip
    assert with_jac.success and exact.success
    np.testing.assert_allclose(with_jac.y[:, -1], exact.y[:, -1], rtol=1e-6)
    assert jac.njev >= 3


def test_ode_jacobian_refuses_a_sparse_backend() -> None:
    sparse = anydiff.SparseBackend(anydiff.FiniteDifferences())
    with pytest.raises(TypeError, match="dense backend"):
        anydiff.ode_jacobian(chain, np.ones(4), 1.0, backend=sparse)


def test_spy_saves_a_png_with_the_coloring(tmp_path) -> None:
    rows = [0, 0, 1, 1, 2, 2, 3]
    cols = [0, 1, 1, 2, 2, 3, 3]
    pattern = Pattern.from_coo((4, 4), rows, cols)
    file = tmp_path / "pattern.png"
    figure = anydiff.spy(pattern, colors=color_columns(pattern), file=file, title="bidiagonal")
    assert file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure.axes and "bidiagonal" in figure.axes[0].get_title()
