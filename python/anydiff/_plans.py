"""Prepared operators: each ``prepare_*`` returns a plan that evaluates at new points.

A plan records the backend, the function, the call's signature (shapes, dtypes,
Constant positions) and the compiled products; calling it with arguments of another
shape or dtype raises :class:`~anydiff.PreparationMismatchError`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from anydiff._arrays import ArrayOps, dtype_of, ops_for
from anydiff._errors import UnsupportedOperationError
from anydiff._layout import Layout
from anydiff._linearization import Linearization
from anydiff._signature import Signature
from anydiff._tree import leaves, map_leaves, rebuild
from anydiff.backends.base import AbstractBackend

__all__ = [
    "DerivativePlan",
    "GradientPlan",
    "HessianPlan",
    "HvpPlan",
    "JacobianPlan",
    "PullbackPlan",
    "PushforwardPlan",
    "SecondDerivativePlan",
]

Function = Callable[..., Any]


def _check_backend(backend: Any) -> AbstractBackend:
    if not isinstance(backend, AbstractBackend):
        raise TypeError(
            "expected an anydiff backend (JaxBackend, TorchBackend, FiniteDifferences, ...) as the "
            f"first argument; got {type(backend).__name__}"
        )
    return backend


class _Plan:
    """Shared state of every plan: backend, signature and the function's output layout."""

    operator = "plan"

    def __init__(
        self, backend: AbstractBackend, f: Function, args: tuple, *, order: int = 1
    ) -> None:
        backend = _check_backend(backend)
        if not callable(f):
            raise TypeError(f"{self.operator}: f must be callable; got {type(f).__name__}")
        self.backend, self.f = backend, f
        self.outer, self.inner = backend.second_order if order == 2 else (backend.first_order,) * 2
        if order == 2 and not self.outer.differentiates_any_function:
            raise UnsupportedOperationError(
                f"{self.operator}: {type(self.outer).__name__} differentiates the function its "
                "callbacks describe, not the gradient a second-order operator needs; use "
                "HigherOrderBackend((FiniteDifferences(), <this backend>)) instead"
            )
        self.signature = Signature(args, self.inner.ops, self.operator)
        xs, cs = self.signature.split(args)
        value = self._fn(xs, cs)
        self.inputs = Layout(self.signature.shapes, self.signature.n_inputs > 1)
        self.outputs = Layout.of(value)
        out_dtypes = [dtype_of(v) for v in leaves(value)]
        self.dtype = np.result_type(self.signature.dtype, *out_dtypes)
        if self.dtype.kind != "f":
            raise TypeError(
                f"{self.operator}: f must return floating-point arrays; got dtype {self.dtype}"
            )

    def _fn(self, xs: tuple, cs: tuple) -> Any:
        return self.signature.bind(self.f, cs)(*xs)

    def _bound(self, cs: tuple) -> Function:
        return self.signature.bind(self.f, cs)

    def _user(self, value: Any) -> Any:
        return map_leaves(self.signature.to_user, value)

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

    def _compile_value(self) -> Function:
        return self.inner.compile(self._fn)


class JacobianPlan(_Plan):
    """Prepared ``jacobian``: shape ``out_shape + in_shape`` per output and input."""

    operator = "jacobian"

    def __init__(
        self, backend: AbstractBackend, f: Function, *args: Any, batch_size: Optional[int] = None
    ) -> None:
        super().__init__(backend, f, args)
        self.lin = Linearization(
            self.inner,
            self._fn,
            Layout(self.signature.shapes, True),
            self.outputs,
            self.dtype,
            batch_size,
        )
        self._value = self._compile_value()

    def __call__(self, *args: Any) -> Any:
        xs, cs = self.signature.split(args)
        return self._jacobian(xs, cs)

    def value_and_jacobian(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), jacobian)``."""
        xs, cs = self.signature.split(args)
        return self._user(self._value(xs, cs)), self._jacobian(xs, cs)

    def _jacobian(self, xs: tuple, cs: tuple) -> Any:
        jac = self.lin.matrix(xs, cs, finish=self._unflatten)
        to_user, multi_in = self.signature.to_user, self.inputs.multi

        def per_output(row: Any) -> Any:
            return tuple(to_user(b) for b in row) if multi_in else to_user(row)

        return tuple(per_output(r) for r in jac) if self.outputs.multi else per_output(jac)

    def _unflatten(self, jac: Any) -> Any:
        """The m x n matrix as JAX-shaped blocks per output and input (traceable)."""
        if not (self.outputs.multi or self.inputs.multi):
            shape = self.outputs.shape + self.inputs.shape
            return jac if tuple(jac.shape) == shape else jac.reshape(shape)
        rows = []
        for o_off, o_size, o_shape in zip(
            self.outputs.offsets, self.outputs.sizes, self.outputs.shapes
        ):
            block = jac[o_off : o_off + o_size]
            rows.append(self.inputs.split_columns(block, o_shape))
        return rebuild(rows, self.outputs.multi)


class DerivativePlan(JacobianPlan):
    """Prepared ``derivative`` of f at a scalar input (any output shape)."""

    operator = "derivative"

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, *args)
        self._scalar_input()

    def value_and_derivative(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), derivative)``."""
        return self.value_and_jacobian(*args)


class GradientPlan(_Plan):
    """Prepared ``gradient`` of a scalar-valued f; a tuple for several inputs."""

    operator = "gradient"

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, args)
        self._scalar_output()
        b, ops, dtype = self.inner, self.inner.ops, self.dtype
        tuple_layout = Layout(self.signature.shapes, True)
        native = b.native("gradient", self._fn, tuple_layout, dtype)
        if native is not None:

            def native_value_and_grad(xs: tuple, cs: tuple) -> tuple[Any, tuple]:
                value, flat = native(xs, cs, dtype)
                return value, tuple_layout.split(flat)

            self._value_and_grad = native_value_and_grad
            only = b.native("gradient_only", self._fn, tuple_layout, dtype)

            def native_grad(xs: tuple, cs: tuple) -> tuple:
                grads = only(xs, cs, dtype) if only is not None else None
                return grads if grads is not None else tuple_layout.split(native(xs, cs, dtype)[1])

            self._grad = native_grad
        elif b.supports_reverse:

            def value_and_grad(xs: tuple, cs: tuple) -> tuple[Any, tuple]:
                return b.value_and_pullback(self._bound(cs), xs, ops.ones((), dtype))

            self._value_and_grad = b.compile(value_and_grad)
            self._grad = b.compile(lambda xs, cs: value_and_grad(xs, cs)[1])
        else:
            # n JVPs, blocked by the Rust policy like any Jacobian with one row.
            lin = Linearization(b, self._fn, tuple_layout, self.outputs, dtype)
            value = self._compile_value()

            def forward_grad(xs: tuple, cs: tuple) -> tuple:
                return tuple_layout.split(lin.matrix(xs, cs)[0])

            self._value_and_grad = lambda xs, cs: (value(xs, cs), forward_grad(xs, cs))
            self._grad = forward_grad

    def __call__(self, *args: Any) -> Any:
        grads = self._grad(*self.signature.split(args))
        to_user = self.signature.to_user
        return to_user(grads[0]) if len(grads) == 1 else tuple(to_user(g) for g in grads)

    def value_and_gradient(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), gradient)``."""
        xs, cs = self.signature.split(args)
        value, grads = self._value_and_grad(xs, cs)
        to_user = self.signature.to_user
        if len(grads) == 1:
            return to_user(value), to_user(grads[0])
        return to_user(value), tuple(to_user(g) for g in grads)


def _reshape_grad(native_result: tuple, shape: tuple) -> tuple[Any, Any]:
    value, grad, _ = native_result
    return value, grad.reshape(shape)


def _own(ops: ArrayOps, x: Any, dtype: np.dtype) -> Any:
    """``x`` as an array of ``ops``' kind: an outer backend that evaluates the inner
    derivative as a black box (finite differences) passes its own arrays."""
    if ops.owns(x):
        return x
    return ops.asarray(ops_for(x).to_numpy(x), dtype=dtype)


def _gradient_expr(b: AbstractBackend, f: Function, x: Any, dtype: np.dtype) -> Any:
    """The gradient of scalar ``f`` at one input, written with ``b``'s primitives so an
    outer backend can differentiate it."""
    ops = b.ops
    x = _own(ops, x, dtype)
    if b.supports_reverse:
        return b.pullback(f, (x,), ops.ones((), dtype))[0]
    n = int(np.prod(x.shape))
    seeds = ops.basis(n, 0, n, dtype, like=x).reshape((n, *x.shape))
    return b.pushforward_batch(f, (x,), (seeds,)).reshape(x.shape)


def _derivative_expr(
    b: AbstractBackend, f: Function, x: Any, outputs: Layout, dtype: np.dtype
) -> Any:
    """The derivative of ``f`` at a scalar input, written with ``b``'s primitives."""
    ops = b.ops
    x = _own(ops, x, dtype)
    if b.supports_forward:
        return b.pushforward(f, (x,), (ops.ones((), dtype),))
    m = outputs.size
    cotangents = outputs.split_rows(ops.basis(m, 0, m, dtype, like=x), m)
    column = b.pullback_batch(f, (x,), cotangents)[0]
    return outputs.split(column.reshape(m))


class HessianPlan(_Plan):
    """Prepared ``hessian`` of a scalar f of one input, shape ``in_shape + in_shape``.

    The Hessian is the outer backend's Jacobian of the inner backend's gradient, as in
    ``jax.hessian``; with ``symmetrize=True`` it is replaced by ``(H + H^T) / 2``, exactly
    symmetric whatever the rounding of the two passes.
    """

    operator = "hessian"

    def __init__(
        self,
        backend: AbstractBackend,
        f: Function,
        *args: Any,
        batch_size: Optional[int] = None,
        symmetrize: bool = False,
    ) -> None:
        super().__init__(backend, f, args, order=2)
        self.symmetrize = symmetrize
        self._one_input()
        self._scalar_output()
        inner, dtype = self.inner, self.dtype
        tuple_layout = Layout(self.signature.shapes, True)
        self._native = (
            self.outer.native("hessian", self._fn, tuple_layout, dtype)
            if self.outer == self.inner
            else None
        )
        if self._native is not None:
            native, shape = self._native, self.inputs.shape
            self._value_and_grad = lambda xs, cs: _reshape_grad(native(xs, cs, dtype), shape)
            return

        def grad(xs: tuple, cs: tuple) -> Any:
            return _gradient_expr(inner, self._bound(cs), xs[0], dtype)

        self.lin = Linearization(self.outer, grad, tuple_layout, self.inputs, dtype, batch_size)
        self._value_and_grad = inner.compile(lambda xs, cs: (self._fn(xs, cs), grad(xs, cs)))

    def __call__(self, *args: Any) -> Any:
        xs, cs = self.signature.split(args)
        return self._hessian(xs, cs)

    def value_and_hessian(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), hessian)``."""
        xs, cs = self.signature.split(args)
        return self.signature.to_user(self._value_and_grad(xs, cs)[0]), self._hessian(xs, cs)

    def value_gradient_and_hessian(self, *args: Any) -> tuple[Any, Any, Any]:
        """``(f(*args), gradient, hessian)``."""
        xs, cs = self.signature.split(args)
        value, grad = self._value_and_grad(xs, cs)
        to_user = self.signature.to_user
        return to_user(value), to_user(grad), self._hessian(xs, cs)

    def _hessian(self, xs: tuple, cs: tuple) -> Any:
        if self._native is not None:
            h = self._native(xs, cs, self.dtype)[2]
            h = (h + h.T) / 2 if self.symmetrize else h
            return self.signature.to_user(self._shaped(h))
        return self.signature.to_user(self.lin.matrix(xs, cs, self.symmetrize, self._shaped))

    def _shaped(self, h: Any) -> Any:
        shape = self.inputs.shape + self.inputs.shape
        return h if tuple(h.shape) == shape else h.reshape(shape)


class SecondDerivativePlan(_Plan):
    """Prepared ``second_derivative`` at a scalar input (any output shape)."""

    operator = "second_derivative"

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, args, order=2)
        self._scalar_input()
        outer, inner, dtype, outputs = self.outer, self.inner, self.dtype, self.outputs
        if outer == inner and self._native_setup():
            return

        def first(cs: tuple) -> Function:
            return lambda x: _derivative_expr(inner, self._bound(cs), x, outputs, dtype)

        def all_three(xs: tuple, cs: tuple) -> tuple[Any, Any, Any]:
            d = first(cs)
            return self._fn(xs, cs), d(xs[0]), _derivative_expr(outer, d, xs[0], outputs, dtype)

        self._all = outer.compile(all_three)
        self._second = outer.compile(
            lambda xs, cs: _derivative_expr(outer, first(cs), xs[0], outputs, dtype)
        )

    def __call__(self, *args: Any) -> Any:
        return self._user(self._second(*self.signature.split(args)))

    def value_derivative_and_second_derivative(self, *args: Any) -> tuple[Any, Any, Any]:
        """``(f(*args), derivative, second derivative)``."""
        value, d, dd = self._all(*self.signature.split(args))
        return self._user(value), self._user(d), self._user(dd)

    def _native_setup(self) -> bool:
        """Second derivatives from the backend's native Hessians, one output element at a
        time (each a function of one scalar); False when the backend has none."""
        layout, outputs, dtype = Layout(self.signature.shapes, True), self.outputs, self.dtype
        hessians = []
        for j, size in enumerate(outputs.sizes):
            for i in range(size):

                def element(xs: tuple, cs: tuple, j: int = j, i: int = i) -> Any:
                    return leaves(self._fn(xs, cs))[j].reshape(-1)[i]

                native = self.outer.native("hessian", element, layout, dtype)
                if native is None:
                    return False
                hessians.append(native)

        def all_three(xs: tuple, cs: tuple) -> tuple[Any, Any, Any]:
            results = [h(xs, cs, dtype) for h in hessians]
            flat = [
                np.array([float(np.ravel(r[k])[0]) for r in results], dtype=dtype) for k in range(3)
            ]
            return tuple(outputs.split(v) for v in flat)  # type: ignore[return-value]

        self._all = all_three
        self._second = lambda xs, cs: all_three(xs, cs)[2]
        return True


class HvpPlan(_Plan):
    """Prepared Hessian-vector products of a scalar f of one input."""

    operator = "hvp"

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, args, order=2)
        self._one_input()
        self._scalar_output()
        outer, inner, dtype = self.outer, self.inner, self.dtype
        layout, shape, n = Layout(self.signature.shapes, True), self.inputs.shape, self.inputs.size
        native = outer.native("hvp_rows", self._fn, layout, dtype) if outer == inner else None
        if native is not None:
            self._one = lambda xs, cs, v: native(xs, cs, v.reshape(1, n))[0].reshape(shape)
            self._many = lambda xs, cs, v: native(xs, cs, v.reshape(-1, n)).reshape(v.shape)
            return

        def grad(cs: tuple) -> Function:
            return lambda x: _gradient_expr(inner, self._bound(cs), x, dtype)

        if outer.supports_forward:
            one = lambda xs, cs, v: outer.pushforward(grad(cs), xs, (v,))  # noqa: E731
            many = lambda xs, cs, v: outer.pushforward_batch(grad(cs), xs, (v,))  # noqa: E731
        else:  # the Hessian is symmetric, so a VJP of the gradient is an HVP
            one = lambda xs, cs, v: outer.pullback(grad(cs), xs, v)[0]  # noqa: E731
            many = lambda xs, cs, v: outer.pullback_batch(grad(cs), xs, v)[0]  # noqa: E731
        self._one, self._many = outer.compile(one), outer.compile(many)

    def __call__(self, *args: Any, v: Any, batched: bool = False) -> Any:
        """``H @ v`` at ``args``; with ``batched=True``, ``v`` has a leading batch axis."""
        xs, cs = self.signature.split(args)
        v = _tangent(self.signature, v, self.inputs.shape, batched, "v")
        return self.signature.to_user((self._many if batched else self._one)(xs, cs, v))


def _tangent(sig: Signature, v: Any, shape: tuple, batched: bool, name: str) -> Any:
    """``v`` checked against ``shape`` (plus a batch axis) and converted for the backend."""
    got = tuple(getattr(v, "shape", np.shape(v)))
    if (got[1:] if batched else got) != tuple(shape) or (batched and len(got) == 0):
        want = ("(batch, " + ", ".join(map(str, shape)) + ")") if batched else str(tuple(shape))
        raise ValueError(f"{sig.operator}: {name} must have shape {want}; got {got}")
    return sig.to_backend((v,))[0]


class PushforwardPlan(_Plan):
    """Prepared JVPs: ``plan(*args)`` is the pushforward function at ``args``."""

    operator = "pushforward"

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, args)
        b, inputs, outputs = self.inner, Layout(self.signature.shapes, True), self.outputs
        if b.supports_forward:
            self._one = b.compile(lambda xs, cs, ts: b.pushforward(self._bound(cs), xs, ts))
            self._many = b.compile(lambda xs, cs, ts: b.pushforward_batch(self._bound(cs), xs, ts))
        else:
            lin = Linearization(b, self._fn, inputs, outputs, self.dtype)

            def many(xs: tuple, cs: tuple, ts: tuple) -> Any:
                k = ts[0].shape[0]
                return outputs.split_rows(
                    lin.jvp_rows(xs, cs, inputs.flatten_rows(b.ops, ts, k)), k
                )

            self._many = many
            self._one = lambda xs, cs, ts: map_leaves(
                lambda o: o[0], many(xs, cs, tuple(t[None] for t in ts))
            )
        self._value = self._compile_value()

    def __call__(self, *args: Any) -> Callable[..., Any]:
        """The function ``tangents -> JVP`` at ``args`` (a tuple of tangents for several inputs)."""
        xs, cs = self.signature.split(args)
        return lambda tangents, batched=False: self._apply(xs, cs, tangents, batched)

    def value_and_pushforward(self, *args: Any) -> Callable[..., tuple[Any, Any]]:
        """The function ``tangents -> (value, JVP)`` at ``args``."""
        xs, cs = self.signature.split(args)
        value = self._user(self._value(xs, cs))
        return lambda tangents, batched=False: (value, self._apply(xs, cs, tangents, batched))

    def jvp(self, xs: Any, tangents: Any, batched: bool = False) -> Any:
        """The JVP at ``xs`` (one input, or a tuple of inputs and Constants)."""
        args = xs if isinstance(xs, tuple) else (xs,)
        return self(*args)(tangents, batched)

    def _apply(self, xs: tuple, cs: tuple, tangents: Any, batched: bool) -> Any:
        ts = _tangents(self.signature, tangents, batched, "tangents")
        return self._user((self._many if batched else self._one)(xs, cs, ts))


def _tangents(sig: Signature, tangents: Any, batched: bool, name: str) -> tuple:
    """One tangent per differentiated input, checked and converted."""
    parts = tangents if sig.n_inputs > 1 else (tangents,)
    if not isinstance(parts, (tuple, list)) or len(parts) != sig.n_inputs:
        raise ValueError(
            f"{sig.operator}: expected a tuple of {sig.n_inputs} {name} "
            "(one per differentiated input); "
            f"got {type(tangents).__name__}"
        )
    return tuple(_tangent(sig, t, s, batched, name) for t, s in zip(parts, sig.shapes))


class PullbackPlan(_Plan):
    """Prepared VJPs: ``plan(*args)`` is the pullback function at ``args``."""

    operator = "pullback"

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, args)
        b, inputs, outputs = self.inner, Layout(self.signature.shapes, True), self.outputs
        if b.supports_reverse:
            self._one = b.compile(lambda xs, cs, w: b.pullback(self._bound(cs), xs, w))
            self._many = b.compile(lambda xs, cs, w: b.pullback_batch(self._bound(cs), xs, w))
        else:
            lin = Linearization(b, self._fn, inputs, outputs, self.dtype)

            def many(xs: tuple, cs: tuple, w: Any) -> tuple:
                k = leaves(w)[0].shape[0]
                return tuple(
                    leaves(
                        inputs.split_rows(
                            lin.vjp_rows(xs, cs, outputs.flatten_rows(b.ops, w, k)), k
                        )
                    )
                )

            self._many = many
            self._one = lambda xs, cs, w: tuple(
                g[0] for g in many(xs, cs, map_leaves(lambda a: a[None], w))
            )
        self._value = self._compile_value()

    def __call__(self, *args: Any) -> Callable[..., Any]:
        """The function ``cotangent -> VJP`` at ``args`` (cotangent shaped like f's output)."""
        xs, cs = self.signature.split(args)
        return lambda cotangent, batched=False: self._apply(xs, cs, cotangent, batched)

    def value_and_pullback(self, *args: Any) -> Callable[..., tuple[Any, Any]]:
        """The function ``cotangent -> (value, VJP)`` at ``args``."""
        xs, cs = self.signature.split(args)
        value = self._user(self._value(xs, cs))
        return lambda cotangent, batched=False: (value, self._apply(xs, cs, cotangent, batched))

    def vjp(self, xs: Any, cotangent: Any, batched: bool = False) -> Any:
        """The VJP at ``xs`` (one input, or a tuple of inputs and Constants)."""
        args = xs if isinstance(xs, tuple) else (xs,)
        return self(*args)(cotangent, batched)

    def _apply(self, xs: tuple, cs: tuple, cotangent: Any, batched: bool) -> Any:
        sig, outputs = self.signature, self.outputs
        parts = leaves(cotangent) if outputs.multi else (cotangent,)
        if outputs.multi and (
            not isinstance(cotangent, (tuple, list)) or len(parts) != len(outputs.shapes)
        ):
            raise ValueError(
                f"pullback: expected a tuple of {len(outputs.shapes)} cotangents (one per output); "
                f"got {type(cotangent).__name__}"
            )
        ws = rebuild(
            [_tangent(sig, w, s, batched, "cotangent") for w, s in zip(parts, outputs.shapes)],
            outputs.multi,
        )
        grads = (self._many if batched else self._one)(xs, cs, ws)
        grads = tuple(sig.to_user(g) for g in grads)
        return grads if len(grads) > 1 else grads[0]
