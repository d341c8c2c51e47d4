"""DualBackend: anydiff's own engine.

* ``_backend``: the backend (configuration, primitives, cost model);
* ``_traced``: a function traced for the engine, owned by the plan that traced it;
* ``_gpu``: its GPU kernels (wgpu);
* ``_plans``: the operators computed by the engine directly (registered plans);
* ``_sparse``: sparse Jacobians entry by entry and sparse Hessians (registered plans).
"""

from anydiff.backends.dual import _plans, _sparse  # noqa: F401 (registers the plans)
from anydiff.backends.dual._backend import DualBackend

__all__ = ["DualBackend"]
