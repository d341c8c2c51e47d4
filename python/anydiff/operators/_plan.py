"""What every prepared operator (plan) holds: backend, function, signature, output layout.

Calling an operator's plan class (``JacobianPlan(b, f, x)``) prepares the plan registered
for that operator and backend (see ``_registry``); ``prepare_*`` are those calls. A plan
has two faces: ``plan(*args)`` for users, and methods of ``(xs, cs)`` — the differentiated
inputs as the backend's arrays and the constants' values, as ``plan.signature.split(args)``
returns them — that other operators compose (batches, lazy operators, sparse matrices).
Calling a plan with arguments of another shape or dtype raises
:class:`~anydiff.PreparationMismatchError`. Plans pickle (pickle and cloudpickle) as the
recipe that prepared them and are prepared again where they are unpickled, at their first
use (a plan unpickled and never used costs no preparation).
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional

import numpy as np

from anydiff._arrays import cast, dtype_of
from anydiff._contract import AbstractBackend, Function, check_backend
from anydiff._errors import UnsupportedOperationError
from anydiff._layout import Layout
from anydiff._signature import Signature
from anydiff._tree import OutputTree, leaves, map_leaves
from anydiff.operators._registry import _OPERATORS, plan_class

__all__ = ["Plan", "check_tangent", "check_tangents", "prepare_on_first_use", "unprepared"]


class Plan:
    """Shared state of every plan: backend, signature and the function's output layout.

    Attributes:
        backend: the backend the plan was prepared with.
        f: the function.
        signature: where inputs and Constants sit, with their shapes and dtypes.
        inputs: layout of the differentiated inputs (``multi`` for several).
        outputs: layout of f's value.
        dtype: the dtype of the derivatives.
        outer, inner: the backends computing the products (``inner`` for first order;
            for second order, ``outer`` differentiates what ``inner`` computes).
    """

    operator: ClassVar[str] = "plan"
    """The operator's name, as error messages give it."""
    order: ClassVar[int] = 1
    """1 for first-order operators, 2 for second-order ones."""
    _value_fn: Optional[Callable[[tuple, tuple], Any]] = None

    def __new__(cls, backend: Any, *args: Any, **options: Any) -> Any:
        # An operator's class prepares the plan registered for the backend (a subclass,
        # whose __init__ then runs); a concrete plan class is built as itself.
        while cls in _OPERATORS:
            found = plan_class(cls, check_backend(backend), cls.order)
            if found is cls:
                break
            cls = found
        plan = super().__new__(cls)
        plan._recipe = (backend, args, options)
        return plan

    def __reduce__(self) -> tuple:
        # A plan travels as its recipe (class, backend, function, preparation arguments)
        # and is prepared again where it is unpickled, at its first use: compiled code,
        # traced programs and caches are rebuilt there, deterministically, so results are
        # bit-identical.
        backend, args, options = self._recipe
        return (_prepare_again, (type(self), backend, args, options))

    if not TYPE_CHECKING:  # (type checkers would take every attribute for set)

        def __getattr__(self, name: str) -> Any:
            # Reached only for attributes not set: an unpickled plan is prepared here.
            return prepare_on_first_use(self, name)

    def __init__(self, backend: AbstractBackend, f: Function, args: tuple) -> None:
        backend = check_backend(backend)
        if not callable(f):
            raise TypeError(f"{self.operator}: f must be callable; got {type(f).__name__}")
        self.backend, self.f = backend, f
        if self.order == 2:
            self.outer, self.inner = backend.second_order
            if not self.outer.differentiates_any_function:
                raise UnsupportedOperationError(
                    f"{self.operator}: {type(self.outer).__name__} differentiates the function "
                    "its callbacks describe, not the gradient a second-order operator needs; use "
                    "HigherOrderBackend((FiniteDifferences(), <this backend>)) instead"
                )
        else:
            self.outer = self.inner = backend.first_order
        self.signature = Signature(args, self.inner.ops, self.operator)
        if not self.inner.differentiates_any_function:
            # the user's callbacks are written for arrays, not for a tree's flat vector
            self.signature.refuse_trees(f"{type(self.inner).__name__} (its callbacks take arrays)")
        _check_module_dtype(self.operator, f, self.signature.dtype)
        self.inputs = Layout(self.signature.shapes, self.signature.n_inputs > 1)
        # a pytree output (dicts, nested tuples) is seen as the flat tuple of its leaves
        tree = self.f = OutputTree(f)
        value = self._value_at_preparation(args)
        self.output_tree: Optional[OutputTree] = tree if tree.node is not None else None
        if self.output_tree is None:
            self.f = f  # one array or a flat tuple: f itself
        self.outputs = Layout.of(value)
        out_dtypes = [dtype_of(v) for v in leaves(value)]
        bad = [d for d in out_dtypes if d.kind != "f"]
        if bad:
            raise TypeError(
                f"{self.operator}: f must return floating-point arrays; got dtype {bad[0]}"
            )
        # Derivatives carry the inputs' dtype (float32 in, float32 out), also where f
        # computes in a wider one internally.
        self.dtype = np.dtype(self.signature.dtype)

    def _value_at_preparation(self, args: tuple) -> Any:
        """f at the preparation point, for the output layout and dtype: called with the
        backend's arrays, which the generic derivations pass f as well."""
        return self.call_f(*self.signature.split(args))

    def call_f(self, xs: tuple, cs: tuple) -> Any:
        """``f`` called at inputs ``xs`` (backend arrays) and constant values ``cs``: the
        function of ``(xs, cs)`` that the derivations differentiate."""
        return self.bound(cs)(*xs)

    def value_at(self, xs: tuple, cs: tuple) -> Any:
        """f's value at ``(xs, cs)`` as the plan computes it: by default one compiled call
        of the backend (``jax.jit``), made on first use."""
        fn = self._value_fn
        if fn is None:
            fn = self._value_fn = self.inner.compile(self.call_f)
        return fn(xs, cs)

    def bound(self, cs: tuple) -> Function:
        """``f`` as a function of the differentiated inputs alone, constants ``cs`` bound."""
        f = self.signature.bind(self.f, cs)
        dtype = getattr(self, "dtype", None)  # unset while preparing
        if dtype is None:
            return f

        def in_dtype(*xs: Any) -> Any:
            # derivatives carry the inputs' dtype: a real value of another width is cast
            # back inside f; complex values (a complex-step backend's) pass unchanged
            return map_leaves(lambda o: cast(o, dtype) if dtype_of(o).kind == "f" else o, f(*xs))

        return in_dtype

    @property
    def flat_inputs(self) -> Layout:
        """The inputs' layout as a tuple of arrays (what the products take)."""
        return Layout(self.signature.shapes, True)

    def _user(self, value: Any) -> Any:
        """A value of f's output structure (backend arrays) as the user's arrays."""
        return self._output_structure(map_leaves(self.signature.to_user, value))

    def _output_structure(self, per_output: Any) -> Any:
        """Results per output (a tuple for several) in the structure of f's output."""
        tree = self.output_tree
        return per_output if tree is None else tree.rebuild(per_output)

    def _one_input(self) -> None:
        if self.signature.n_inputs != 1:
            raise TypeError(
                f"{self.operator} differentiates one input; got {self.signature.n_inputs} "
                "(wrap the others in anydiff.Constant)"
            )

    def _scalar_output(self) -> None:
        if self.outputs.multi or self.outputs.shape != ():
            raise ValueError(
                f"{self.operator} needs f to return a scalar (shape ()); "
                f"got output shapes {list(self.outputs.shapes)}"
            )

    def _scalar_input(self) -> None:
        self._one_input()
        if self.inputs.shape != ():
            raise ValueError(
                f"{self.operator} needs a scalar input (shape ()); got shape {self.inputs.shape} "
                "(use jacobian for array inputs)"
            )


def _prepare_again(cls: type, backend: Any, args: tuple, options: dict) -> Any:
    """A pickled plan in the unpickling process, prepared at its first use (see
    ``Plan.__reduce__``)."""
    return unprepared(cls, (backend, *args), options)


class _Pending:
    """The preparation an unpickled plan still owes: its arguments, and a lock so that
    threads sharing the plan prepare it once."""

    __slots__ = ("args", "lock", "options", "running")

    def __init__(self, args: tuple, options: dict) -> None:
        self.args, self.options = args, options
        self.lock = threading.RLock()
        self.running = False


def unprepared(cls: type, args: tuple, options: dict) -> Any:
    """A plan of class ``cls`` whose preparation (``cls.__init__(*args, **options)``)
    runs at the first use of an attribute it sets (see :func:`prepare_on_first_use`)."""
    plan = cls.__new__(cls, *args, **options)
    plan._pending = _Pending(args, options)
    return plan


def prepare_on_first_use(plan: Any, name: str) -> Any:
    """``plan.<name>`` for a plan's ``__getattr__`` (attributes not set): an unprepared plan
    (:func:`unprepared`) is prepared first; otherwise, or while that preparation itself
    asks, the attribute is missing."""
    pending = plan.__dict__.get("_pending")
    if pending is not None and not name.startswith("__"):
        with pending.lock:
            if plan.__dict__.get("_pending") is pending and not pending.running:
                pending.running = True
                try:
                    type(plan).__init__(plan, *pending.args, **pending.options)
                finally:
                    pending.running = False
                del plan.__dict__["_pending"]
        if plan.__dict__.get("_pending") is None:
            return object.__getattribute__(plan, name)
    raise AttributeError(f"{type(plan).__name__!r} object has no attribute {name!r}")


def _check_module_dtype(operator: str, f: Any, dtype: np.dtype) -> None:
    """A torch module whose parameters have another dtype than the inputs: TypeError naming
    both (torch.func does not cast either; torch's own message names neither argument)."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(f, torch.nn.Module):
        return
    params = [p for p in f.parameters() if p.is_floating_point()]
    if params and dtype_of(params[0]) != dtype:
        got = dtype_of(params[0])
        raise TypeError(
            f"{operator}: the inputs are {dtype} but the torch module's parameters are "
            f"{got}; convert one of them (x.astype(np.{got}) or module.to(torch.{dtype}))"
        )


def check_tangent(sig: Signature, v: Any, shape: tuple, batched: bool, name: str) -> Any:
    """``v`` checked against ``shape`` (plus a batch axis) and converted for the backend."""
    got = tuple(getattr(v, "shape", np.shape(v)))
    if (got[1:] if batched else got) != tuple(shape) or (batched and len(got) == 0):
        want = ("(batch, " + ", ".join(map(str, shape)) + ")") if batched else str(tuple(shape))
        raise ValueError(f"{sig.operator}: {name} must have shape {want}; got {got}")
    return sig.to_backend((v,))[0]


def check_tangents(sig: Signature, tangents: Any, batched: bool, name: str) -> tuple:
    """One tangent per differentiated input, checked and converted."""
    parts = tangents if sig.n_inputs > 1 else (tangents,)
    if not isinstance(parts, (tuple, list)) or len(parts) != sig.n_inputs:
        raise ValueError(
            f"{sig.operator}: expected a tuple of {sig.n_inputs} {name} "
            "(one per differentiated input); "
            f"got {type(tangents).__name__}"
        )
    return tuple(
        check_tangent(sig, sig.tangent(t, k, batched, name), s, batched, name)
        for k, (t, s) in enumerate(zip(parts, sig.shapes))
    )
