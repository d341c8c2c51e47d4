"""JAX backend: ``jax.jvp`` / ``jax.vjp`` batched with ``jax.vmap``, compiled with ``jax.jit``."""

from __future__ import annotations

from anydiff._arrays import import_framework
from anydiff._modes import Mode
from anydiff.backends._functional import FunctionalBackend

__all__ = ["JaxBackend"]


class JaxBackend(FunctionalBackend):
    """Differentiate with JAX in forward (``jax.jvp``) or reverse (``jax.vjp``) mode.

    Inputs are converted to JAX arrays; results follow the kind of the user's input.
    Dtypes follow JAX's configuration (``jax_enable_x64`` for float64). Constants must be
    valid JAX arguments (arrays, scalars, pytrees of them): they are arguments of the
    compiled functions, so changing them does not recompile.
    """

    array_kind = "jax"

    def __init__(self, mode: Mode = "forward") -> None:
        super().__init__(mode)
        jax = import_framework("jax")
        self._jvp, self._vjp, self._vmap = jax.jvp, jax.vjp, jax.vmap
