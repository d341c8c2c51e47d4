"""Normalising a call ``f(*args)``: differentiated inputs, ``Constant`` arguments, checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

import numpy as np

from anydiff._arrays import ArrayOps, dtype_of, kind_name, ops_named
from anydiff._errors import PreparationMismatchError

__all__ = ["Constant", "Signature"]

T = TypeVar("T")


@dataclass(frozen=True)
class Constant(Generic[T]):
    """An argument of ``f`` that is passed through and not differentiated."""

    value: T


def _describe(a: Any) -> str:
    if isinstance(a, Constant):
        return "Constant"
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
        xs = [args[i] for i in self.diff_positions]
        for i, x in zip(self.diff_positions, xs):
            if isinstance(x, dict) or (
                isinstance(x, (list, tuple)) and any(hasattr(e, "shape") for e in x)
            ):
                raise TypeError(
                    f"{operator}: argument {i} is a {type(x).__name__} of arrays; anydiff "
                    "differentiates arrays: pass them as separate arguments (f(w, b, x)), or "
                    "wrap the container in anydiff.Constant when it is not differentiated"
                )
            if dtype_of(x).kind != "f":
                raise TypeError(
                    f"{operator}: argument {i} must be floating point (float32 or float64), "
                    f"got {_describe(x)}; wrap non-differentiated arguments in anydiff.Constant"
                )
        self.described = tuple(_describe(a) for a in args)
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
        single = self.nargs == 1 and not self._convert and hasattr(xs[0], "shape")
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

    def bind(self, f: Callable[..., Any], cs: tuple) -> Callable[..., Any]:
        """``f`` as a function of the differentiated inputs alone."""
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
