"""Normalising a call ``f(*args)``: differentiated inputs (arrays, or pytrees seen as the
flat vector of their leaves), ``Constant`` arguments, checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, TypeVar

import numpy as np

from anydiff._arrays import ArrayOps, dtype_of, kind_name, ops_named
from anydiff._errors import PreparationMismatchError
from anydiff._tree import ArgTree, describe_tree, is_tree

__all__ = ["Constant", "Signature"]

T = TypeVar("T")


@dataclass(frozen=True)
class Constant(Generic[T]):
    """An argument of ``f`` that is passed through and not differentiated."""

    value: T


def _describe(a: Any) -> str:
    if isinstance(a, Constant):
        return "Constant"
    if is_tree(a):
        return describe_tree(a)
    shape = tuple(getattr(a, "shape", np.shape(a)))
    return f"{kind_name(a)} array of shape {shape} and dtype {dtype_of(a)}"


class Signature:
    """Where the differentiated inputs and Constants sit in a call, with shapes and dtypes.

    ``split(args)`` checks a later call against the first one and returns the inputs
    converted for the backend, plus the constants.
    """

    def __init__(self, args: tuple, backend_ops: ArrayOps, operator: str) -> None:
        if not args:
            raise TypeError(
                f"{operator} needs at least one input to differentiate; got no arguments"
            )
        self.operator = operator
        self.nargs = len(args)
        self.diff_positions = tuple(i for i, a in enumerate(args) if not isinstance(a, Constant))
        if not self.diff_positions:
            raise TypeError(f"{operator}: every argument is a Constant; nothing to differentiate")
        self.const_positions = tuple(i for i, a in enumerate(args) if isinstance(a, Constant))
        self.described = tuple(_describe(a) for a in args)
        self.trees: tuple[Optional[ArgTree], ...] = tuple(
            ArgTree(args[i], f"{operator}: argument {i}") if is_tree(args[i]) else None
            for i in self.diff_positions
        )
        """Per differentiated input: its pytree structure (the operators see the flat
        vector of its leaves), or None for an array."""
        self._tree_at = {i: t for i, t in zip(self.diff_positions, self.trees) if t is not None}
        if self._tree_at:
            args = self._ravel_trees(args)
        xs = [args[i] for i in self.diff_positions]
        for i, x in zip(self.diff_positions, xs):
            if dtype_of(x).kind != "f":
                raise TypeError(
                    f"{operator}: argument {i} must be floating point (float32 or float64), "
                    f"got {_describe(x)}; wrap non-differentiated arguments in anydiff.Constant"
                )
        self.shapes = tuple(tuple(getattr(x, "shape", np.shape(x))) for x in xs)
        self.dtypes = tuple(getattr(x, "dtype", None) for x in xs)
        self.types = tuple(type(x) for x in xs)
        self.kinds = tuple(kind_name(x) for x in xs)
        self.user_ops = ops_named(next((k for k in self.kinds if k != "numpy"), "numpy"))
        self.backend_ops = backend_ops
        self.dtype = backend_ops.canonical_dtype(np.result_type(*(dtype_of(x) for x in xs)))
        self.like = xs[0]
        self._convert = any(not (backend_ops.owns(x) and dtype_of(x) == self.dtype) for x in xs)
        self._user_type = type(xs[0]) if self.user_ops.owns(xs[0]) else None
        single = (
            self.nargs == 1 and not self._convert and hasattr(xs[0], "shape") and not self._tree_at
        )
        self._one = (self.types[0], self.shapes[0], self.dtypes[0]) if single else None

    @property
    def n_inputs(self) -> int:
        """How many arguments are differentiated."""
        return len(self.diff_positions)

    def split(self, args: tuple) -> tuple[tuple, tuple]:
        """``(xs, cs)``: inputs as backend arrays of the prepared dtype, and constant values."""
        if self._one is not None and len(args) == 1:
            # one input, nothing to convert: the commonest prepared call
            x = args[0]
            t, shape, dtype = self._one
            if type(x) is t and x.shape == shape and x.dtype == dtype:
                return args, ()
        if len(args) != self.nargs:
            self._mismatch(args)
        if self._tree_at:
            args = self._ravel_trees(args)
        if self.const_positions:
            if any(isinstance(args[i], Constant) for i in self.diff_positions) or any(
                not isinstance(args[i], Constant) for i in self.const_positions
            ):
                self._mismatch(args)
            xs = tuple(args[i] for i in self.diff_positions)
            cs = tuple(args[i].value for i in self.const_positions)
        else:
            xs, cs = args, ()
        # Hot path of every prepared call: compare types, shapes and dtypes, nothing more.
        for x, t, shape, dtype in zip(xs, self.types, self.shapes, self.dtypes):
            if (
                type(x) is not t
                or getattr(x, "shape", ()) != shape
                or getattr(x, "dtype", None) != dtype
            ):
                self._check_slow(args, xs)
                return self.to_backend(xs), cs
        return (self.to_backend(xs) if self._convert else xs), cs

    def _check_slow(self, args: tuple, xs: tuple) -> None:
        """Accept another type of the same kind (a tensor subclass, say); else raise."""
        for x, kind, shape, dtype in zip(xs, self.kinds, self.shapes, self.dtypes):
            if isinstance(x, Constant) or kind_name(x) != kind:
                self._mismatch(args)
            if tuple(getattr(x, "shape", np.shape(x))) != shape:
                self._mismatch(args)
            if getattr(x, "dtype", None) != dtype:
                self._mismatch(args)

    def to_backend(self, xs: tuple) -> tuple:
        """Arrays converted to the backend's kind and the prepared dtype."""
        ops, dtype = self.backend_ops, self.dtype
        return tuple(
            x if ops.owns(x) and dtype_of(x) == dtype else ops.asarray(_host(x, ops), dtype=dtype)
            for x in xs
        )

    def _ravel_trees(self, args: tuple) -> tuple:
        """``args`` with each pytree argument as its flat vector (checked against the
        prepared structure)."""
        out = list(args)
        for i, tree in self._tree_at.items():
            if isinstance(args[i], Constant) or not tree.matches(args[i]):
                self._mismatch(args)
            out[i] = tree.ravel(args[i])
        return tuple(out)

    def user_inputs(self, args: tuple) -> tuple:
        """The differentiated inputs of a call as the user passed them (pytrees as their
        flat vectors), not converted for the backend."""
        if self._tree_at:
            args = self._ravel_trees(args)
        return tuple(args[i] for i in self.diff_positions)

    def group(self, parts: tuple) -> Any:
        """Results per differentiated input (user arrays whose last axis runs over the
        input, flattened for a pytree) in the inputs' structure: each pytree input's part
        as that tree, one input's alone, several as a tuple."""
        if self._tree_at:
            parts = tuple(
                p if t is None else t.split_axis(p, -1) for p, t in zip(parts, self.trees)
            )
        return parts[0] if len(parts) == 1 else tuple(parts)

    def group_square(self, h: Any) -> Any:
        """A Hessian of the one input, as a tree of trees for a pytree input."""
        tree = self.trees[0]
        return h if tree is None else tree.split_square(h)

    def tangent(self, t: Any, k: int, batched: bool, name: str) -> Any:
        """A tangent of input ``k`` as the user gave it: a pytree input's as its flat vector
        (with the batch axis leading), an array's unchanged."""
        tree = self.trees[k]
        return t if tree is None else tree.ravel_tangent(t, batched, self.operator, name)

    def refuse_trees(self, what: str) -> None:
        """Raise a TypeError when an input is a pytree: ``what`` does not take them."""
        if self._tree_at:
            i = next(iter(self._tree_at))
            raise TypeError(
                f"{self.operator}: argument {i} is a {self._tree_at[i].node.kind} tree of "
                f"arrays, which {what} does not take; pass the arrays as separate "
                "arguments, or use the dense operators (jacobian, gradient, hessian, ...)"
            )

    def bind(self, f: Callable[..., Any], cs: tuple) -> Callable[..., Any]:
        """``f`` as a function of the differentiated inputs alone (pytree inputs given as
        their flat vectors)."""
        if self._tree_at:
            f = self._unraveling(f)
        if not self.const_positions:
            return f
        nargs, dpos, cpos = self.nargs, self.diff_positions, self.const_positions

        def bound(*xs: Any) -> Any:
            full: list[Any] = [None] * nargs
            for i, x in zip(dpos, xs):
                full[i] = x
            for i, c in zip(cpos, cs):
                full[i] = c
            return f(*full)

        return bound

    def _unraveling(self, f: Callable[..., Any]) -> Callable[..., Any]:
        trees = self._tree_at

        def unraveled(*full: Any) -> Any:
            return f(*(trees[i].unravel(a) if i in trees else a for i, a in enumerate(full)))

        return unraveled

    def to_user(self, a: Any) -> Any:
        """A result array as the kind of the user's inputs, on their device."""
        ops = self.user_ops
        if type(a) is self._user_type or ops.owns(a):
            return a
        return ops.from_numpy(
            self.backend_ops.to_numpy(a) if not isinstance(a, np.ndarray) else a, like=self.like
        )

    def _mismatch(self, args: tuple) -> None:
        lines = []
        for i in range(max(len(args), self.nargs)):
            want = self.described[i] if i < self.nargs else "no argument"
            got = _describe(args[i]) if i < len(args) else "no argument"
            mark = "ok" if want == got else "MISMATCH"
            lines.append(f"  argument {i}: expected {want}, got {got} [{mark}]")
        raise PreparationMismatchError(
            f"{self.operator} plan called with arguments unlike those it was prepared for:\n"
            + "\n".join(lines)
        )


def _host(x: Any, ops: ArrayOps) -> Any:
    """``x`` in a form ``ops.asarray`` accepts: foreign framework arrays go through numpy."""
    if kind_name(x) not in ("numpy", ops.name):
        return ops_named(kind_name(x)).to_numpy(x)
    return x
