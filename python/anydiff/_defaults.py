"""Default settings, read by signatures and docstrings alike."""

from __future__ import annotations

MEMORY_CAP_BYTES = 256 * 2**20
"""Upper bound on the memory of one block of seeds plus results (bytes)."""

FINITE_DIFFERENCE_METHOD = "central"
"""Default finite-difference stencil."""
