"""PyTorch backend: ``torch.func.jvp`` / ``torch.func.vjp`` under ``torch.func.vmap``."""

from __future__ import annotations

from anydiff._arrays import import_framework
from anydiff._modes import Mode
from anydiff.backends._functional import FunctionalBackend

__all__ = ["TorchBackend"]


class TorchBackend(FunctionalBackend):
    """Differentiate with ``torch.func`` in forward or reverse mode.

    Tensors stay on their device (CUDA included); numpy inputs become CPU tensors.
    """

    array_kind = "torch"

    def __init__(self, mode: Mode = "reverse") -> None:
        super().__init__(mode)
        func = import_framework("torch").func
        self._jvp, self._vjp, self._vmap = func.jvp, func.vjp, func.vmap
