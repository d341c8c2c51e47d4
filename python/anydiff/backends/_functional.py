"""The shared body of backends built on a functional transform API (JAX, torch.func)."""

from __future__ import annotations

from typing import Any, Callable

from anydiff._contract import AbstractForwardMode, AbstractReverseMode, Function
from anydiff._modes import MODES, Mode, check_option


class FunctionalBackend(AbstractForwardMode, AbstractReverseMode):
    """JVPs and VJPs from a framework's ``jvp``, ``vjp`` and ``vmap``; one mode at a time.

    Subclasses set ``array_kind`` and, in ``__init__``, the three transforms.
    """

    _jvp: Callable[..., Any]
    _vjp: Callable[..., Any]
    _vmap: Callable[..., Any]

    def __init__(self, mode: Mode) -> None:
        self.mode = check_option("mode", mode, MODES)

    @property
    def supports_forward(self) -> bool:  # type: ignore[override]
        return self.mode == "forward"

    @property
    def supports_reverse(self) -> bool:  # type: ignore[override]
        return self.mode == "reverse"

    def vectorize(self, fn: Function, in_axes: Any) -> Function:
        return self._vmap(fn, in_axes)

    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        jvp = self._jvp
        return self._vmap(lambda *ts: jvp(f, xs, ts)[1])(*tangents)

    def pushforward(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        return self._jvp(f, xs, tuple(tangents))[1]

    def pullback_batch(self, f: Function, xs: tuple, cotangents: Any) -> tuple:
        _, vjp = self._vjp(f, *xs)
        return self._vmap(vjp)(cotangents)

    def pullback(self, f: Function, xs: tuple, cotangent: Any) -> tuple:
        return self._vjp(f, *xs)[1](cotangent)

    def value_and_pullback(self, f: Function, xs: tuple, cotangent: Any) -> tuple[Any, tuple]:
        value, vjp = self._vjp(f, *xs)
        return value, vjp(cotangent)
