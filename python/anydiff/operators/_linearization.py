"""Flat JVP/VJP blocks of one function at one point, and their assembly into dense matrices.

A :class:`Linearization` holds the compiled block functions of ``fn(xs, cs)`` for one
backend; the Rust core decides the blocks and, for host arrays, writes them into one
preallocated matrix. Arrays on an accelerator are stitched by the framework instead, so
nothing crosses to the host.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from anydiff import _core
from anydiff._contract import AbstractBackend, cheaper_mode
from anydiff._defaults import MEMORY_CAP_BYTES
from anydiff._layout import Layout
from anydiff._modes import Mode
from anydiff._tree import leaves

__all__ = ["Linearization"]


class Linearization:
    """Compiled JVP/VJP blocks of ``fn(xs, cs)`` (``xs`` differentiated, ``cs`` constants).

    Args:
        backend: computes the products.
        fn: the function, taking the tuple of inputs and the tuple of constants.
        inputs: layout of the inputs (always a tuple of arrays).
        outputs: layout of ``fn``'s value.
        dtype: the dtype of assembled matrices.
        batch_size: block size override; by default the Rust policy picks it.
    """

    def __init__(
        self,
        backend: AbstractBackend,
        fn: Callable[[tuple, tuple], Any],
        inputs: Layout,
        outputs: Layout,
        dtype: np.dtype,
        batch_size: Optional[int] = None,
    ) -> None:
        self.backend, self.inputs, self.outputs, self.dtype = (
            backend,
            inputs,
            outputs,
            np.dtype(dtype),
        )
        self.batch_size = batch_size
        ops = backend.ops
        n, m = inputs.size, outputs.size

        def jvp_rows(xs: tuple, cs: tuple, t: Any) -> Any:
            k = t.shape[0]
            tangents = tuple(leaves(inputs.split_rows(t, k)))
            out = backend.pushforward_batch(lambda *a: fn(a, cs), xs, tangents)
            return outputs.flatten_rows(ops, out, k)

        def vjp_rows(xs: tuple, cs: tuple, w: Any) -> Any:
            k = w.shape[0]
            grads = backend.pullback_batch(lambda *a: fn(a, cs), xs, outputs.split_rows(w, k))
            return inputs.flatten_rows(ops, tuple(grads), k)

        def jvp_basis(xs: tuple, cs: tuple, start: Any, k: int) -> Any:
            return jvp_rows(xs, cs, ops.basis(n, start, k, self.dtype, like=xs[0]))

        def vjp_basis(xs: tuple, cs: tuple, start: Any, k: int) -> Any:
            return vjp_rows(xs, cs, ops.basis(m, start, k, self.dtype, like=xs[0]))

        self._jvp_basis_py, self._vjp_basis_py = jvp_basis, vjp_basis
        self._whole_cache: dict[tuple, Callable[[tuple, tuple], Any]] = {}
        compile = backend.compile
        self._jvp_rows = compile(jvp_rows) if backend.supports_forward else None
        self._vjp_rows = compile(vjp_rows) if backend.supports_reverse else None
        self._jvp_basis = (
            compile(jvp_basis, static_argnums=(3,)) if backend.supports_forward else None
        )
        self._vjp_basis = (
            compile(vjp_basis, static_argnums=(3,)) if backend.supports_reverse else None
        )
        if self._jvp_rows is None and self._vjp_rows is None:
            raise TypeError(
                f"{type(backend).__name__} computes neither JVPs nor VJPs "
                "(supports_forward and supports_reverse are both False)"
            )
        self.mode: Mode = cheaper_mode(backend, n, m)

    def matrix(
        self,
        xs: tuple,
        cs: tuple,
        symmetrize: bool = False,
        finish: Optional[Callable[[Any], Any]] = None,
    ) -> Any:
        """The m x n Jacobian at ``xs``; with ``symmetrize``, ``(J + J^T) / 2``.

        ``finish`` (reshaping, splitting) is applied to the matrix, inside the compiled call
        when there is one, so that JAX does not dispatch those operations one by one.

        The Rust policy splits the seeds into blocks. One block is the whole matrix, so the
        framework computes it in one compiled call and nothing is copied. Several blocks are
        written by Rust into one preallocated numpy array for host inputs, and stitched by
        the framework for inputs on an accelerator. Returns numpy or the backend's arrays.
        """
        forward = self.mode == "forward"
        n, m = self.inputs.size, self.outputs.size
        seeds, length = (n, m) if forward else (m, n)
        ranges = _core.block_ranges(
            seeds, length, self.dtype.itemsize, self.batch_size, MEMORY_CAP_BYTES
        )
        if len(ranges) <= 1:
            return self.whole(symmetrize, finish)(xs, cs)
        finish = finish or _identity
        block = self._jvp_basis if forward else self._vjp_basis
        ops = self.backend.ops
        if not ops.is_host(xs[0]):
            b = ops.concat([block(xs, cs, s, e - s) for s, e in ranges], 0)
            b = b.T if forward else b
            return finish((b + b.T) / 2 if symmetrize else b)

        def oracle(start: int, k: int) -> np.ndarray:
            return self._host(block(xs, cs, start, k))

        return finish(
            _core.assemble(
                oracle,
                n,
                m,
                self.mode,
                self.dtype.name,
                self.batch_size,
                MEMORY_CAP_BYTES,
                symmetrize,
            )
        )

    def whole(
        self, symmetrize: bool = False, finish: Optional[Callable[[Any], Any]] = None
    ) -> Callable[[tuple, tuple], Any]:
        """The matrix as one compiled call of the backend (transposed, symmetrised and
        finished inside), whatever the blocks: a function of ``(xs, cs)`` that a vectorizing
        transform (``jax.vmap``) can map over points."""
        fn = self._whole_cache.get((symmetrize, finish))
        if fn is None:
            end = finish or _identity
            forward, n, m = self.mode == "forward", self.inputs.size, self.outputs.size
            block = self._jvp_basis_py if forward else self._vjp_basis_py

            def whole(xs: tuple, cs: tuple) -> Any:
                b = block(xs, cs, 0, n if forward else m)
                b = b.T if forward else b
                return end((b + b.T) / 2 if symmetrize else b)

            fn = self._whole_cache[(symmetrize, finish)] = self.backend.compile(whole)
        return fn

    def jvp_rows(self, xs: tuple, cs: tuple, t: Any) -> Any:
        """JVPs of the rows of ``t`` (k x n) as a k x m array; through the dense Jacobian
        when the backend has no forward mode."""
        if self._jvp_rows is not None:
            return self._jvp_rows(xs, cs, t)
        return t @ self.backend.ops.asarray(self.matrix(xs, cs)).T

    def vjp_rows(self, xs: tuple, cs: tuple, w: Any) -> Any:
        """VJPs of the rows of ``w`` (k x m) as a k x n array; through the dense Jacobian
        when the backend has no reverse mode."""
        if self._vjp_rows is not None:
            return self._vjp_rows(xs, cs, w)
        return w @ self.backend.ops.asarray(self.matrix(xs, cs))

    def _host(self, block: Any) -> np.ndarray:
        a = self.backend.ops.to_numpy(block)
        return a if a.dtype == self.dtype else a.astype(self.dtype)


def _identity(a: Any) -> Any:
    return a
