"""``batch_*`` on a JAX array sharded over four host devices keeps the result sharded
(XLA's host-platform device count, set in a subprocess before JAX starts)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")

_SHARDED = """
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import anydiff as ad

assert len(jax.devices()) == 4, jax.devices()
mesh = Mesh(np.array(jax.devices()), ("points",))
X = jax.device_put(
    jnp.asarray(np.random.default_rng(0).random((400, 6))), NamedSharding(mesh, P("points"))
)

def lotka_volterra(z):
    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return jnp.stack([a * x - b * x * y, c * x * y - d * y])

def energy(z):
    return (z * z).sum() * z[0]

truth = {
    "jacobian": jax.vmap(jax.jacfwd(lotka_volterra))(X),
    "hessian": jax.vmap(jax.hessian(energy))(X),
}
for backend in (ad.JaxBackend(), ad.DualBackend()):
    for operator, f in (("jacobian", lotka_volterra), ("hessian", energy)):
        J = getattr(ad, f"batch_{operator}")(backend, f, X)
        name = f"{type(backend).__name__} {operator}"
        assert isinstance(J, jax.Array), name
        assert len(J.devices()) == 4, (name, J.sharding)
        assert J.sharding.spec[0] == "points", (name, J.sharding)
        for shard in J.addressable_shards:
            assert shard.data.shape[0] == 100, (name, shard.data.shape)
        np.testing.assert_allclose(np.asarray(J), np.asarray(truth[operator]), rtol=1e-13)

by_columns = jax.device_put(jnp.ones((10, 8)), NamedSharding(mesh, P(None, "points")))
try:
    ad.batch_jacobian(ad.DualBackend(), lambda z: z * z, by_columns)
except ValueError as err:
    assert "split along the points only" in str(err), err
else:
    raise AssertionError("X sharded along its columns was not refused")
print("ok")
"""


def test_batch_results_stay_sharded_over_host_devices() -> None:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    done = subprocess.run(
        [sys.executable, "-c", _SHARDED], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
