"""The one dispatch table of the numpy tracer: numpy function or ufunc -> handler.

Each family module registers its handlers with :func:`implements` (array functions, which
numpy hands to ``Tracer.__array_function__``) or :func:`implements_ufunc` (ufuncs, from
``Tracer.__array_ufunc__``). A handler's signature mirrors numpy's: arguments are bound to
it before the call, so a keyword numpy has and the handler does not is refused by name
instead of being ignored.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

__all__ = [
    "FUNCTIONS",
    "UFUNCS",
    "TraceError",
    "bind",
    "implements",
    "implements_ufunc",
    "refuse_unless_default",
    "supported_names",
]


class TraceError(TypeError):
    """Raised when traced code does something the graph cannot record; the message names
    the numpy function and says what is supported."""


FUNCTIONS: dict[Any, Callable[..., Any]] = {}
"""numpy array function -> handler taking numpy's arguments."""

UFUNCS: dict[Any, Callable[..., Any]] = {}
"""numpy ufunc -> handler taking the ufunc's inputs (``out``/``where`` are handled by the
tracer)."""


def implements(*funcs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated handler for each of ``funcs`` (those that exist in this
    numpy version)."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        for func in funcs:
            if func is not None:
                FUNCTIONS[func] = handler
        return handler

    return register


def implements_ufunc(*ufuncs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated handler for each of ``ufuncs``."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        for ufunc in ufuncs:
            if ufunc is not None:
                UFUNCS[ufunc] = handler
        return handler

    return register


def name_of(func: Any) -> str:
    """``np.linalg.norm`` style name of a numpy callable."""
    module = getattr(func, "__module__", "") or ""
    name = getattr(func, "__name__", repr(func))
    if "linalg" in module:
        return f"np.linalg.{name}"
    if "fft" in module:
        return f"np.fft.{name}"
    return f"np.{name}"


@functools.cache
def _signature(handler: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(handler)


def bind(func: Any, handler: Callable[..., Any], args: Any, kwargs: dict) -> inspect.BoundArguments:
    """``args``/``kwargs`` bound to ``handler``'s parameters, or a TraceError naming the
    keyword (or argument count) that the traced version of ``func`` does not take."""
    sig = _signature(handler)
    try:
        return sig.bind(*args, **kwargs)
    except TypeError as err:
        params = [
            p.name
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        raise TraceError(
            f"{name_of(func)} on traced values: {err}; the tracer supports its arguments "
            f"{', '.join(params) or '(none)'}"
        ) from None


def refuse_unless_default(func_name: str, **given: Any) -> None:
    """Refuse keywords that the tracer accepts only at their default (None/False)."""
    for key, value in given.items():
        if value is not None and value is not False:
            raise TraceError(
                f"{func_name}({key}={value!r}) is not supported on traced values; leave "
                f"{key} at its default"
            )


def supported_names() -> list[str]:
    """Every numpy function and ufunc the tracer handles, for error messages."""
    names = {name_of(f) for f in FUNCTIONS} | {f"np.{u.__name__}" for u in UFUNCS}
    return sorted(names)
