"""Derivatives from user-supplied numpy callbacks: any one of jvp, vjp or jacobian."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from anydiff._arrays import ops_named
from anydiff._contract import AbstractForwardMode, AbstractReverseMode, Function
from anydiff._errors import ShapeError
from anydiff._layout import Layout
from anydiff._tree import leaves, map_leaves

__all__ = ["CallbackBackend"]


class CallbackBackend(AbstractForwardMode, AbstractReverseMode):
    """A backend whose derivatives come from numpy callbacks the user writes.

    With one differentiated input the callbacks are called as ``jvp(x, v)``,
    ``vjp(x, w)`` and ``jacobian(x)``; with several, ``x`` and ``v`` are tuples and
    ``vjp``/``jacobian`` return one array per input. ``w`` and the results have the
    structure of ``f``'s output. Constants are not passed: close over them.
    ``jacobian(x)`` returns shape ``out_shape + in_shape`` (JAX's convention).

    With ``batched=True``, ``jvp``/``vjp`` receive a leading batch axis and return one.
    Any one callback is enough: ``jacobian`` gives both modes, ``jvp`` forward, ``vjp``
    reverse. Results are checked for shape and dtype.
    """

    differentiates_any_function = False

    def __init__(
        self,
        jvp: Optional[Callable[..., Any]] = None,
        vjp: Optional[Callable[..., Any]] = None,
        jacobian: Optional[Callable[..., Any]] = None,
        batched: bool = False,
    ) -> None:
        if jvp is None and vjp is None and jacobian is None:
            raise ValueError(
                "CallbackBackend needs at least one of jvp=, vjp= or jacobian=; got none"
            )
        for name, cb in (("jvp", jvp), ("vjp", vjp), ("jacobian", jacobian)):
            if cb is not None and not callable(cb):
                raise TypeError(f"{name}= must be callable; got {type(cb).__name__}")
        self.jvp = jvp
        self.vjp = vjp
        self.jacobian = jacobian
        self.batched = batched

    @property
    def supports_forward(self) -> bool:  # type: ignore[override]
        return self.jvp is not None or self.jacobian is not None

    @property
    def supports_reverse(self) -> bool:  # type: ignore[override]
        return self.vjp is not None or self.jacobian is not None

    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        ops = ops_named("numpy")
        value = map_leaves(np.asarray, f(*xs))
        out = Layout.of(value)
        k = len(tangents[0])
        if self.jvp is None:
            t = Layout.of(xs).flatten_rows(ops, tangents, k)
            return out.split_rows(t @ self._dense_jacobian(xs, value).T, k)
        arg = _one_or_all(xs)
        if self.batched:
            res = self.jvp(arg, _one_or_all(tangents))
            return _checked(res, value, "jvp", batch=k)
        rows = [
            _checked(self.jvp(arg, _one_or_all(tuple(t[i] for t in tangents))), value, "jvp")
            for i in range(k)
        ]
        return _stack(rows, out.multi)

    def pullback_batch(self, f: Function, xs: tuple, cotangents: Any) -> tuple:
        ops = ops_named("numpy")
        value = map_leaves(np.asarray, f(*xs))
        in_layout = Layout.of(xs)
        k = len(leaves(cotangents)[0])
        if self.vjp is None:
            w = Layout.of(value).flatten_rows(ops, cotangents, k)
            return in_layout.split_rows(w @ self._dense_jacobian(xs, value), k)
        arg = _one_or_all(xs)
        expected = xs if len(xs) > 1 else xs[0]
        if self.batched:
            res = _checked(self.vjp(arg, cotangents), expected, "vjp", batch=k)
            return tuple(leaves(res))
        rows = [
            _checked(self.vjp(arg, map_leaves(lambda w, i=i: w[i], cotangents)), expected, "vjp")
            for i in range(k)
        ]
        return tuple(leaves(_stack(rows, len(xs) > 1)))

    def _dense_jacobian(self, xs: tuple, value: Any) -> np.ndarray:
        """The callback's Jacobian as one m x n matrix (m outputs, n inputs)."""
        assert self.jacobian is not None
        in_layout, out_layout = Layout.of(xs), Layout.of(value)
        res = self.jacobian(_one_or_all(xs))
        blocks = leaves(res) if out_layout.multi else (res,)
        if len(blocks) != len(out_layout.shapes):
            raise ShapeError(
                f"jacobian callback: expected {len(out_layout.shapes)} blocks (one per output), "
                f"got {len(blocks)}"
            )
        rows = []
        for out_shape, block in zip(out_layout.shapes, blocks):
            per_input = leaves(block) if len(xs) > 1 else (block,)
            cols = []
            for in_shape, b in zip(in_layout.shapes, per_input):
                expected = np.empty(
                    out_shape + in_shape, dtype=np.result_type(*(v.dtype for v in leaves(value)))
                )
                b = _checked(b, expected, "jacobian")
                cols.append(b.reshape(int(np.prod(out_shape)), int(np.prod(in_shape))))
            rows.append(np.concatenate(cols, axis=1))
        return np.concatenate(rows, axis=0)


def _one_or_all(xs: tuple) -> Any:
    return xs[0] if len(xs) == 1 else xs


def _stack(rows: list, multi: bool) -> Any:
    if multi:
        return tuple(np.stack([r[j] for r in rows]) for j in range(len(rows[0]))) if rows else ()
    return np.stack(rows)


def _checked(result: Any, like: Any, name: str, batch: Optional[int] = None) -> Any:
    """``result`` as numpy with the structure, shapes and dtypes of ``like`` (plus a batch axis)."""
    got, want = leaves(result) if isinstance(like, tuple) else (result,), leaves(like)
    if isinstance(like, tuple) and (not isinstance(result, (tuple, list)) or len(got) != len(want)):
        raise ShapeError(
            f"{name} callback: expected a tuple of {len(want)} arrays, got {type(result).__name__}"
        )
    out = []
    for g, w in zip(got, want):
        g = np.asarray(g)
        shape = (batch, *w.shape) if batch is not None else tuple(w.shape)
        if g.shape != shape:
            raise ShapeError(f"{name} callback returned shape {g.shape}, expected {shape}")
        # A wider float is rounded to the expected dtype; a narrower or non-float one would
        # silently lose precision or meaning.
        if g.dtype.kind != "f" or g.dtype.itemsize < w.dtype.itemsize:
            raise TypeError(f"{name} callback returned dtype {g.dtype}, expected {w.dtype}")
        out.append(g.astype(w.dtype, copy=False))
    return tuple(out) if isinstance(like, tuple) else out[0]
