"""Derivatives at many points at once: ``batch_jacobian(b, f, X)`` is the Jacobian of f at
each row of X (``jax.vmap(jax.jacfwd(f))(X)``).

The generic plan maps the per-point plan's compiled computation (its ``point_function``)
with the backend's vectorizing transform (``jax.vmap``, ``torch.func.vmap``), and loops
over the points with the per-point plan where there is none. A backend that evaluates
many points natively registers its own :class:`BatchPlan` (the dual engine does).
"""

from __future__ import annotations

import abc
import itertools
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Optional, Union

import numpy as np

from anydiff import _core
from anydiff._arrays import dtype_of, ops_for
from anydiff._contract import AbstractBackend, Function, check_backend
from anydiff._modes import check_option
from anydiff._signature import Constant
from anydiff._tree import is_tree
from anydiff.operators._dask import dask_batch, is_dask_array
from anydiff.operators._plan import prepare_on_first_use, unprepared
from anydiff.operators._registry import operator, plan_class, register_plan
from anydiff.operators._sharded import is_multi_device_jax, sharded_batch
from anydiff.operators._streaming import array_chunks, check_chunk_size, check_out, stream_into
from anydiff.operators.first_order.gradient import GradientPlan
from anydiff.operators.first_order.jacobian import JacobianPlan
from anydiff.operators.second_order.hessian import HessianPlan

__all__ = [
    "BatchOperator",
    "BatchPlan",
    "GenericBatchPlan",
    "PointPlan",
    "Resident",
    "batch_gradient",
    "batch_hessian",
    "batch_jacobian",
]

BatchOperator = Literal["jacobian", "gradient", "hessian"]
"""The operators ``batch_*`` evaluates at many points."""

PointPlan = Union[JacobianPlan, GradientPlan, HessianPlan]
"""The per-point plan a batch plan holds."""

_PER_POINT: dict[str, type[PointPlan]] = {
    "jacobian": JacobianPlan,
    "gradient": GradientPlan,
    "hessian": HessianPlan,
}


class Resident:
    """Points and results kept on the GPU (``BatchPlan.resident``): ``run()`` evaluates
    without host transfers and waits for the GPU; ``read()`` copies the results back."""

    def __init__(self, run: Callable[[], None], read: Callable[[], Any]) -> None:
        self.run, self.read = run, read


@operator
class BatchPlan(abc.ABC):
    """Prepared ``batch_jacobian`` / ``batch_gradient`` / ``batch_hessian``.

    ``BatchPlan(operator, b, f, X, *constants)`` prepares the batch plan registered for
    ``b``; ``plan(X, *constants)`` evaluates at every row of X. X's rows have the shape of
    the point the plan was prepared with; the number of rows may change between calls.

    Attributes:
        operator: ``"jacobian"``, ``"gradient"`` or ``"hessian"``.
        backend: the backend.
        plan: the per-point plan (prepared at ``X[0]``).
        point_shape: the shape of one point.
    """

    def __new__(cls, operator: str, b: Any, *args: Any) -> Any:
        if cls is BatchPlan:
            order = 2 if operator == "hessian" else 1
            cls = plan_class(BatchPlan, check_backend(b), order)
        plan = super().__new__(cls)
        plan._recipe = (operator, b, (*args[:1], _recipe_point(args[1]), *args[2:]))
        return plan

    def __reduce__(self) -> tuple:
        # Like Plan.__reduce__: the recipe travels, the plan is prepared again on arrival,
        # at its first use.
        operator, b, args = self._recipe
        return (_prepare_again, (type(self), operator, b, args))

    if not TYPE_CHECKING:  # (type checkers would take every attribute for set)

        def __getattr__(self, name: str) -> Any:
            # Reached only for attributes not set: an unpickled plan is prepared here.
            return prepare_on_first_use(self, name)

    def __init__(
        self, operator: BatchOperator, b: AbstractBackend, f: Function, X: Any, *args: Any
    ) -> None:
        check_backend(b)
        check_option("operator", operator, tuple(_PER_POINT))
        if any(not isinstance(a, Constant) for a in args):
            raise TypeError(
                f"batch_{operator} differentiates the batched first argument only; wrap the "
                "other arguments in anydiff.Constant"
            )
        if is_tree(X):
            raise TypeError(
                f"batch_{operator}: X is a {type(X).__name__} of arrays; the batched "
                "operators take one array X with the batch axis leading"
            )
        shape = tuple(getattr(X, "shape", np.shape(X)))
        if len(shape) < 1:
            raise ValueError(
                f"batch_{operator}: X needs a leading batch axis; got a scalar of shape ()"
            )
        self.operator, self.backend = operator, b
        self.plan: PointPlan = _PER_POINT[operator](b, f, _first_point(X, shape), *args)
        if getattr(self.plan, "output_tree", None) is not None:
            raise TypeError(
                f"batch_{operator}: f returns a dict or nested tuple; the batched operators "
                "take f returning one array or a tuple of arrays"
            )
        self.point_shape = shape[1:]

    def __call__(self, X: Any, *args: Any) -> Any:
        shape = self._batch_shape(X)
        sig = self.plan.signature
        _, cs = sig.split((_first_point(X, shape), *args))
        empty = self._allocatable(shape[0])
        if empty is not None:
            return empty
        return self.evaluate(sig.to_backend((X,)), cs, shape[0])

    @abc.abstractmethod
    def evaluate(self, xs: tuple, cs: tuple, batch: int) -> Any:
        """The derivatives at the ``batch`` points of ``xs`` (backend arrays with a leading
        batch axis) and constants ``cs``, as the user's arrays."""

    def resident(self, X: Any, *args: Any) -> Resident:
        """Uploads X once and keeps it, with room for the results, on the GPU: for
        repeated evaluations without host transfers (``DualBackend(device="gpu")``,
        ``jacobian`` and ``gradient`` plans). ``run()`` evaluates, ``read()`` returns
        what ``plan(X)`` would."""
        raise TypeError(
            "resident evaluation needs a jacobian or gradient plan of "
            f"DualBackend(device='gpu'); got a {self.operator} plan of {self.plan.inner!r}"
        )

    def _batch_shape(self, X: Any) -> tuple:
        """X's shape, checked against the point the plan was prepared with."""
        shape = tuple(getattr(X, "shape", np.shape(X)))
        if shape[1:] != self.point_shape or not shape:
            raise ValueError(
                f"batch_{self.operator}: expected X of shape (batch, "
                + ", ".join(map(str, self.point_shape))
                + f"); got {shape}"
            )
        return shape

    def _allocatable(self, batch: int) -> Any:
        """Check that the results of ``batch`` points fit in memory (``MemoryError`` naming
        their size, before any work); for no points, the empty result itself."""
        shape, dtype = self._result_shape(batch), np.dtype(self.plan.dtype)
        if batch > 1:  # one point's result is checked where the per-point plan sizes it
            _core.ensure_allocatable(f"the batch of {self.operator}s", shape, dtype.itemsize)
        if batch:
            return None
        sig = self.plan.signature
        empty = np.zeros(shape, dtype=dtype)
        return (
            sig.user_ops.from_numpy(empty, like=sig.like) if sig.user_ops.name != "numpy" else empty
        )

    def _result_shape(self, batch: int) -> tuple[int, ...]:
        """The shape of the batched result: the batch, then one point's result."""
        inputs = self.plan.inputs.shape
        if self.operator == "hessian":
            return (batch, *inputs, *inputs)
        if self.operator == "gradient":
            return (batch, *inputs)
        return (batch, *self.plan.outputs.shape, *inputs)


@register_plan(BatchPlan, AbstractBackend)
class GenericBatchPlan(BatchPlan):
    """The per-point computation mapped by the backend's vectorizing transform, else a loop."""

    def __init__(
        self, operator: BatchOperator, b: AbstractBackend, f: Function, X: Any, *args: Any
    ) -> None:
        super().__init__(operator, b, f, X, *args)
        point = self.plan.point_function()
        backend = self.plan.outer if operator == "hessian" else self.plan.inner
        vectorized = backend.vectorize(point, ((0,), None)) if point is not None else None
        self._vectorized: Optional[Function] = (
            backend.compile(vectorized) if vectorized is not None else None
        )

    def __call__(self, X: Any, *args: Any) -> Any:
        if self._vectorized is not None:
            return super().__call__(X, *args)
        shape = self._batch_shape(X)
        empty = self._allocatable(shape[0])
        if empty is not None:
            return empty
        results = [self.plan(X[i], *args) for i in range(shape[0])]
        sig = self.plan.signature
        return sig.user_ops.stack(results) if sig.user_ops.name != "numpy" else np.stack(results)

    def evaluate(self, xs: tuple, cs: tuple, batch: int) -> Any:
        if self._vectorized is None:
            raise TypeError(f"{type(self.backend).__name__} has no vectorizing transform")
        return self.plan.signature.to_user(self._vectorized(xs, cs))


def _recipe_point(X: Any) -> Any:
    """X's first row as a batch of one, owning its memory (the recipe a pickled plan
    carries: not the whole batch, and not a view of a memmap)."""
    if isinstance(X, np.ndarray):
        return np.array(X[:1])
    first = X[:1]
    return first.clone() if hasattr(first, "clone") else first


def _first_point(X: Any, shape: tuple) -> Any:
    """X's first row; zeros of a row's shape, of X's kind and dtype, when X has no rows
    (the plan still needs a point for the shapes of f's value)."""
    if shape[0]:
        return X[0]
    ops = ops_for(X)
    zeros = np.zeros(shape[1:], dtype=dtype_of(X))
    return ops.from_numpy(zeros, like=X) if ops.name != "numpy" else zeros


def _prepare_again(cls: type, operator: str, b: Any, args: tuple) -> Any:
    """A pickled batch plan in the unpickling process, prepared at its first use."""
    return unprepared(cls, (operator, b, *args), {})


def batch_jacobian(
    b: AbstractBackend,
    f: Function,
    X: Any,
    *args: Any,
    out: Any = None,
    chunk_size: Optional[int] = None,
) -> Any:
    """The Jacobian of f at each row of X: shape ``(batch, *out_shape, *in_shape)``.

    X may be an array, a ``numpy.memmap``, an iterator of chunks (arrays of points) or a
    ``dask.array`` chunked along the points (then the result is a lazy ``dask.array``).
    ``out`` (an array or memmap of the result's shape and dtype) receives the result;
    ``chunk_size`` evaluates that many points at a time, so memory follows the chunk.
    """
    return _batch("jacobian", b, f, X, args, out, chunk_size)


def batch_gradient(
    b: AbstractBackend,
    f: Function,
    X: Any,
    *args: Any,
    out: Any = None,
    chunk_size: Optional[int] = None,
) -> Any:
    """The gradient of scalar f at each row of X: shape ``X.shape`` (X, ``out`` and
    ``chunk_size`` as for :func:`batch_jacobian`)."""
    return _batch("gradient", b, f, X, args, out, chunk_size)


def batch_hessian(
    b: AbstractBackend,
    f: Function,
    X: Any,
    *args: Any,
    out: Any = None,
    chunk_size: Optional[int] = None,
) -> Any:
    """The Hessian of scalar f at each row of X: shape ``(batch, *in_shape, *in_shape)``
    (X, ``out`` and ``chunk_size`` as for :func:`batch_jacobian`)."""
    return _batch("hessian", b, f, X, args, out, chunk_size)


def _batch(
    operator: BatchOperator,
    b: AbstractBackend,
    f: Function,
    X: Any,
    args: tuple,
    out: Any,
    chunk_size: Any,
) -> Any:
    chunk_size = check_chunk_size(chunk_size)
    if is_dask_array(X):
        if out is not None:
            raise TypeError(
                f"batch_{operator}: out= takes in-memory arrays; a dask.array input gives a "
                "lazy dask.array (store it with dask.array.store or to_zarr)"
            )
        return dask_batch(operator, b, f, X, args, chunk_size)
    if not hasattr(X, "shape"):
        chunks = _chunks_of(X, operator)
        first = next(chunks, None)
        if first is None:
            raise ValueError(f"batch_{operator}: the iterator of chunks gave no chunk")
        plan = BatchPlan(operator, b, f, first, *args)
        if out is not None:
            check_out(out, (out.shape[0], *plan._result_shape(1)[1:]), plan.plan.dtype, operator)
        return stream_into(plan, itertools.chain([first], chunks), args, out)
    # JAX backends keep a sharded X's sharding themselves; the others go shard by shard.
    jax_native = b.first_order.array_kind == "jax"
    if out is None and chunk_size is None and is_multi_device_jax(X) and not jax_native:
        one_shard = X.addressable_shards[0].data
        return sharded_batch(BatchPlan(operator, b, f, one_shard, *args), X, args)
    plan = BatchPlan(operator, b, f, X[:1] if isinstance(X, np.memmap) else X, *args)
    if out is None and chunk_size is None:
        return plan(X, *args)
    n = plan._batch_shape(X)[0]
    if out is None:
        out = np.empty(plan._result_shape(n), plan.plan.dtype) if _numpy_kind(plan) else None
    else:
        check_out(out, plan._result_shape(n), plan.plan.dtype, operator)
    return stream_into(plan, array_chunks(X, chunk_size or n), args, out)


def _chunks_of(X: Any, operator: str) -> Iterator[Any]:
    try:
        return iter(X)
    except TypeError:
        raise TypeError(
            f"batch_{operator}: X must be an array, a dask.array or an iterator of chunks; "
            f"got {type(X).__name__}"
        ) from None


def _numpy_kind(plan: BatchPlan) -> bool:
    return bool(plan.plan.signature.user_ops.name == "numpy")
