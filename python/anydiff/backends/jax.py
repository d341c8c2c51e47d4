"""JAX backend: ``jax.jvp`` / ``jax.vjp`` batched with ``jax.vmap``, compiled with ``jax.jit``."""

from __future__ import annotations

from typing import Any

from anydiff._arrays import import_framework
from anydiff._modes import MODES, Mode, check_option
from anydiff.backends.base import AbstractForwardMode, AbstractReverseMode, Function

__all__ = ["JaxBackend"]


class JaxBackend(AbstractForwardMode, AbstractReverseMode):
    """Differentiate with JAX in forward (``jax.jvp``) or reverse (``jax.vjp``) mode.

    Inputs are converted to JAX arrays; results follow the kind of the user's input.
    Dtypes follow JAX's configuration (``jax_enable_x64`` for float64).
    """

    array_kind = "jax"

    def __init__(self, mode: Mode = "forward") -> None:
        self.mode = check_option("mode", mode, MODES)
        self._jax = import_framework("jax")

    @property
    def supports_forward(self) -> bool:  # type: ignore[override]
        return self.mode == "forward"

    @property
    def supports_reverse(self) -> bool:  # type: ignore[override]
        return self.mode == "reverse"

    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        jax = self._jax
        return jax.vmap(lambda *ts: jax.jvp(f, xs, ts)[1])(*tangents)

    def pushforward(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        return self._jax.jvp(f, xs, tuple(tangents))[1]

    def pullback_batch(self, f: Function, xs: tuple, cotangents: Any) -> tuple:
        _, vjp = self._jax.vjp(f, *xs)
        return self._jax.vmap(vjp)(cotangents)

    def pullback(self, f: Function, xs: tuple, cotangent: Any) -> tuple:
        return self._jax.vjp(f, *xs)[1](cotangent)

    def value_and_pullback(self, f: Function, xs: tuple, cotangent: Any) -> tuple[Any, tuple]:
        value, vjp = self._jax.vjp(f, *xs)
        return value, vjp(cotangent)
