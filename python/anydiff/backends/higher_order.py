"""Second order by composition: the outer backend differentiates what the inner computes."""

from __future__ import annotations

from anydiff._contract import AbstractBackend, DelegatingBackend

__all__ = ["HigherOrderBackend"]


class HigherOrderBackend(DelegatingBackend):
    """``HigherOrderBackend((outer, inner))``: Hessians as the outer Jacobian of the inner gradient.

    ``(JaxBackend("forward"), JaxBackend("reverse"))`` is forward-over-reverse. First-order
    operators use the inner backend.
    """

    def __init__(self, backends: tuple[AbstractBackend, AbstractBackend]) -> None:
        if not (isinstance(backends, (tuple, list)) and len(backends) == 2):
            raise TypeError(f"HigherOrderBackend expects a pair (outer, inner); got {backends!r}")
        for b in backends:
            if not isinstance(b, AbstractBackend):
                raise TypeError(
                    f"HigherOrderBackend expects anydiff backends; got {type(b).__name__}"
                )
        self.backends = tuple(backends)

    @property
    def first_order(self) -> AbstractBackend:
        return self.backends[1].first_order

    @property
    def second_order(self) -> tuple[AbstractBackend, AbstractBackend]:
        return (self.backends[0].first_order, self.backends[1].first_order)
