"""anydiff's expression graph and its front ends (numpy tracer, JAX jaxprs).

The graph is what the Rust engine evaluates with dual numbers over many points, and what
global sparsity detection propagates index sets through.
"""

from anydiff.ir._graph import Graph, Value
from anydiff.ir.jaxpr import SUPPORTED_PRIMITIVES, trace_jax
from anydiff.ir.numpy_tracer import TraceError, Tracer, trace_numpy

__all__ = [
    "SUPPORTED_PRIMITIVES",
    "Graph",
    "TraceError",
    "Tracer",
    "Value",
    "trace_jax",
    "trace_numpy",
]
