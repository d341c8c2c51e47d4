"""Tracing ordinary numpy code into the graph, without JAX.

``trace_numpy(f, *example_args)`` calls ``f`` with :class:`Tracer` arrays. A tracer answers
numpy's ufuncs (``np.sin(x) * x[1]``), operators, indexing and item assignment, the array
methods, and numpy's array functions through one dispatch table filled by a module per
family: ufuncs, reductions, structure (data movement and writes), linear algebra and
array creation. Data movement is recorded as one gather whose index map comes from
running the same numpy function on an array of positions. Whatever is not supported is a
:class:`TraceError` that names the function; branching on a traced value is one too (the
graph must hold for every input).
"""

from anydiff.ir.numpy_tracer import _creation, _linalg, _reductions, _structure, _ufuncs
from anydiff.ir.numpy_tracer._dispatch import TraceError
from anydiff.ir.numpy_tracer._dispatch import supported_names as supported_functions
from anydiff.ir.numpy_tracer._tracer import Tracer, trace_numpy

__all__ = ["TraceError", "Tracer", "supported_functions", "trace_numpy"]

del _creation, _linalg, _reductions, _structure, _ufuncs
