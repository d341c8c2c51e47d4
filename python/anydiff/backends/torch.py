"""PyTorch backend: ``torch.func.jvp`` / ``torch.func.vjp`` under ``torch.func.vmap``."""

from __future__ import annotations

from typing import Any

from anydiff._arrays import import_framework
from anydiff._modes import MODES, Mode, check_option
from anydiff.backends.base import AbstractForwardMode, AbstractReverseMode, Function

__all__ = ["TorchBackend"]


class TorchBackend(AbstractForwardMode, AbstractReverseMode):
    """Differentiate with ``torch.func`` in forward or reverse mode.

    Tensors stay on their device (CUDA included); numpy inputs become CPU tensors.
    """

    array_kind = "torch"

    def __init__(self, mode: Mode = "reverse") -> None:
        self.mode = check_option("mode", mode, MODES)
        self._func = import_framework("torch").func

    @property
    def supports_forward(self) -> bool:  # type: ignore[override]
        return self.mode == "forward"

    @property
    def supports_reverse(self) -> bool:  # type: ignore[override]
        return self.mode == "reverse"

    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        func = self._func
        return func.vmap(lambda *ts: func.jvp(f, xs, ts)[1])(*tangents)

    def pushforward(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        return self._func.jvp(f, xs, tuple(tangents))[1]

    def pullback_batch(self, f: Function, xs: tuple, cotangents: Any) -> tuple:
        _, vjp = self._func.vjp(f, *xs)
        return self._func.vmap(vjp)(cotangents)

    def pullback(self, f: Function, xs: tuple, cotangent: Any) -> tuple:
        return self._func.vjp(f, *xs)[1](cotangent)

    def value_and_pullback(self, f: Function, xs: tuple, cotangent: Any) -> tuple[Any, tuple]:
        value, vjp = self._func.vjp(f, *xs)
        return value, vjp(cotangent)
