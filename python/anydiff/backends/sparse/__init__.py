"""SparseBackend: sparse Jacobians and Hessians through coloring.

* ``_backend``: the backend (its configuration);
* ``_plans``: its plans (detection, coloring, compressed products, decompression), and the
  sparse operators that inner backends register their own ways for.
"""

from anydiff.backends.sparse import _plans  # noqa: F401 (registers the plans)
from anydiff.backends.sparse._backend import SparseBackend
from anydiff.backends.sparse._plans import SparseHessianPlan, SparseJacobianPlan

__all__ = ["SparseBackend", "SparseHessianPlan", "SparseJacobianPlan"]
