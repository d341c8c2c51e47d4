"""Lazy operators: Jacobians, gradients and Hessians as products, never formed unless asked."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from anydiff._arrays import to_host
from anydiff._layout import Layout

__all__ = ["LazyOperator"]


class LazyOperator:
    """A linear operator ``A`` of shape ``out_shape + in_shape`` known through products.

    ``A @ v`` applies it to ``v`` of shape ``in_shape`` (or ``in_shape + (k,)`` for k vectors),
    ``w @ A`` applies its transpose to ``w`` of shape ``out_shape`` (or ``(k,) + out_shape``),
    ``.T`` swaps the two, ``.todense()`` forms it and ``.aslinearoperator()`` gives a
    ``scipy.sparse.linalg.LinearOperator`` on the flattened spaces.
    """

    __array_ufunc__ = None  # numpy defers ``ndarray @ op`` to ``__rmatmul__``

    def __init__(
        self,
        matvecs: Callable[[Any], Any],
        rmatvecs: Callable[[Any], Any],
        dense: Callable[[], Any],
        out_shape: tuple[int, ...],
        in_shape: tuple[int, ...],
        dtype: np.dtype,
        name: str,
    ) -> None:
        # matvecs: k x n rows -> k x m rows (backend arrays); rmatvecs: k x m -> k x n
        self._matvecs, self._rmatvecs, self._dense = matvecs, rmatvecs, dense
        self.out_shape, self.in_shape = tuple(out_shape), tuple(in_shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self._outputs, self._inputs = (
            Layout((self.out_shape,), False),
            Layout((self.in_shape,), False),
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """``out_shape + in_shape`` (JAX's Jacobian shape)."""
        return self.out_shape + self.in_shape

    @property
    def T(self) -> LazyOperator:
        """The transposed operator."""
        return LazyOperator(
            self._rmatvecs,
            self._matvecs,
            lambda: _transpose(self._dense(), len(self.out_shape), len(self.in_shape)),
            self.in_shape,
            self.out_shape,
            self.dtype,
            f"{self.name}.T",
        )

    def __matmul__(self, v: Any) -> Any:
        return _apply(self._matvecs, v, self._inputs, self._outputs, self.name, trailing=True)

    def __rmatmul__(self, w: Any) -> Any:
        return _apply(self._rmatvecs, w, self._outputs, self._inputs, self.name, trailing=False)

    def todense(self) -> Any:
        """The operator as a dense array of shape ``self.shape``."""
        return self._dense()

    def aslinearoperator(self) -> Any:
        """A scipy ``LinearOperator`` of shape ``(prod(out_shape), prod(in_shape))``."""
        from scipy.sparse.linalg import LinearOperator

        m, n = self._outputs.size, self._inputs.size

        def matmat(x: np.ndarray) -> np.ndarray:
            return to_host(self @ x.reshape((*self.in_shape, -1))).reshape(m, -1)

        def rmatmat(y: np.ndarray) -> np.ndarray:
            return to_host(y.T.reshape((-1, *self.out_shape)) @ self).reshape(-1, n).T

        return LinearOperator(
            (m, n),
            matvec=lambda x: matmat(x.reshape(n, 1)).reshape(m),
            rmatvec=lambda y: rmatmat(y.reshape(m, 1)).reshape(n),
            matmat=matmat,
            rmatmat=rmatmat,
            dtype=self.dtype,
        )

    def __repr__(self) -> str:
        return f"<{self.name} of shape {self.shape}, dtype {self.dtype}>"


def _apply(products: Callable, v: Any, src: Layout, dst: Layout, name: str, trailing: bool) -> Any:
    shape = tuple(getattr(v, "shape", np.shape(v)))
    if shape == src.shape:
        return products(v.reshape(1, src.size)).reshape(dst.shape)
    nd = len(src.shape)
    batch_shape = shape[nd:] if trailing else shape[: len(shape) - nd]
    core = shape[:nd] if trailing else shape[len(shape) - nd :]
    if core != src.shape or len(batch_shape) != 1:
        batched = (*src.shape, "k") if trailing else ("k", *src.shape)
        want = f"{src.shape} or {batched}"
        raise ValueError(f"{name}: operand must have shape {want}; got {shape}")
    k = batch_shape[0]
    if trailing:
        rows = products(v.reshape(src.size, k).T)
        return rows.T.reshape((*dst.shape, k))
    return products(v.reshape(k, src.size)).reshape((k, *dst.shape))


def _transpose(a: Any, n_out: int, n_in: int) -> Any:
    axes = tuple(range(n_out, n_out + n_in)) + tuple(range(n_out))
    return a.transpose(axes) if not hasattr(a, "permute") else a.permute(*axes)
