"""``batch_*`` on a JAX array sharded along the points, for backends that do not compute
with JAX themselves (``DualBackend``): each device's shard is differentiated where it
lives and the results are assembled into an array with the same sharding of the points,
without a gather to one device. (JAX backends keep the sharding by themselves.)"""

from __future__ import annotations

from typing import Any

__all__ = ["is_multi_device_jax", "sharded_batch"]


def is_multi_device_jax(X: Any) -> bool:
    """Whether X is a JAX array spread over several devices."""
    devices = getattr(X, "devices", None)
    return type(X).__module__.startswith("jax") and callable(devices) and len(devices()) > 1


def sharded_batch(plan: Any, X: Any, args: tuple) -> Any:
    """``plan(X, *args)`` shard by shard; the result is sharded along the points as X is."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    sharding = X.sharding
    spec = tuple(getattr(sharding, "spec", ()))
    if not isinstance(sharding, NamedSharding) or any(axis is not None for axis in spec[1:]):
        raise ValueError(
            f"batch_{plan.operator}: a sharded X must be split along the points only (a "
            f"NamedSharding with PartitionSpec(axis) ); got {sharding}"
        )
    shape = plan._result_shape(plan._batch_shape(X)[0])
    out_sharding = NamedSharding(sharding.mesh, PartitionSpec(spec[0] if spec else None))
    pieces = []
    for shard in X.addressable_shards:
        result = plan(shard.data, *args)
        pieces.append(jax.device_put(result, shard.device))
    return jax.make_array_from_single_device_arrays(shape, out_sharding, pieces)
