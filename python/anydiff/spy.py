"""``spy``: a picture of a sparsity pattern, its nonzeros colored by a coloring."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from anydiff.coloring import Coloring, Pattern

__all__ = ["spy"]

_FIGURE_INCHES = 6.0
_DPI = 150
_LEGEND_ENTRIES = 12


def spy(
    pattern: Any,
    colors: Optional[Union[Coloring, Any]] = None,
    file: Any = None,
    title: Optional[str] = None,
) -> Any:
    """Draw the nonzeros of ``pattern`` as points and return the matplotlib Figure.

    Args:
        pattern: a :class:`~anydiff.coloring.Pattern`, a scipy.sparse matrix or a dense
            2-d (boolean) array.
        colors: a :class:`~anydiff.coloring.Coloring` (a nonzero takes the color of its
            column for column, star and acyclic colorings, of its row for row colorings),
            or an integer array of column colors; None draws every nonzero alike.
        file: where to save a PNG (a path or a binary file object); None saves nothing.
        title: the figure's title; by default the shape and nonzero count.

    Points shrink with the matrix so that large patterns stay readable; the legend gives
    the number of colors (and names the first few). Uses matplotlib's Agg renderer, so it
    needs no display.

    Example:
        >>> import numpy as np
        >>> from anydiff.coloring import Pattern, color_columns
        >>> from anydiff.spy import spy
        >>> p = Pattern.from_dense(np.eye(6, dtype=bool) | np.eye(6, k=1, dtype=bool))
        >>> fig = spy(p, color_columns(p))
        >>> fig.axes[0].get_legend().get_title().get_text()
        '2 colors (column)'
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    coloring = colors if isinstance(colors, Coloring) else None
    pat = coloring.pattern if coloring is not None and pattern is None else Pattern.of(pattern)
    m, n = pat.shape
    rows, cols = pat.coo()
    point_colors, ncolors, kind = _point_colors(pat, colors, rows, cols)

    fig = Figure(figsize=(_FIGURE_INCHES, _FIGURE_INCHES), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    # One matrix cell spans about (axes size in points) / max(m, n); a point fills most of it.
    cell = 0.85 * _FIGURE_INCHES * 72 / max(m, n, 1)
    size = float(np.clip(cell, 0.15, 8.0)) ** 2
    palette = _palette(max(ncolors, 1))
    if point_colors is None:
        ax.scatter(cols, rows, s=size, c="black", marker="s", linewidths=0)
        handles = [Line2D([], [], ls="", marker="s", color="black", label=f"{pat.nnz} nonzeros")]
        legend_title = None
    else:
        ax.scatter(cols, rows, s=size, c=palette[point_colors], marker="s", linewidths=0)
        shown = min(ncolors, _LEGEND_ENTRIES)
        handles = [
            Line2D([], [], ls="", marker="s", color=palette[c], label=f"color {c}")
            for c in range(shown)
        ]
        if ncolors > shown:
            handles.append(Line2D([], [], ls="", label=f"... {ncolors - shown} more"))
        legend_title = f"{ncolors} colors ({kind})"
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(m - 0.5, -0.5)
    ax.xaxis.tick_top()
    ax.set_aspect("equal" if max(m, n) <= 20 * max(min(m, n), 1) else "auto")
    ax.legend(
        handles=handles,
        title=legend_title,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        frameon=False,
    )
    default = f"{m} x {n}, {pat.nnz} nonzeros"
    ax.set_title(title if title is not None else default, fontsize="medium")
    if file is not None:
        fig.savefig(file, format="png")
    return fig


def _point_colors(
    pattern: Pattern, colors: Any, rows: np.ndarray, cols: np.ndarray
) -> tuple[Optional[np.ndarray], int, str]:
    """Color index of every nonzero, the number of colors, and the coloring's kind."""
    if colors is None:
        return None, 0, ""
    if isinstance(colors, Coloring):
        if colors.pattern.shape != pattern.shape:
            raise ValueError(
                f"spy: the coloring is of a {colors.pattern.shape} pattern, "
                f"expected {pattern.shape}"
            )
        by = rows if colors.kind == "row" else cols
        return np.asarray(colors.colors)[by], colors.ncolors, colors.kind
    array = np.asarray(colors)
    if array.ndim != 1 or len(array) != pattern.shape[1] or array.dtype.kind not in "iu":
        raise ValueError(
            "spy: colors must be a Coloring or an integer array with one color per column "
            f"({pattern.shape[1]}); got {array.dtype} array of shape {array.shape}"
        )
    if len(array) and array.min() < 0:
        raise ValueError("spy: colors must be non-negative")
    ncolors = int(array.max()) + 1 if len(array) else 0
    return array[cols], ncolors, "column"


def _palette(k: int) -> np.ndarray:
    """``k`` distinguishable RGBA colors: tab10/tab20 when they suffice, else a hue wheel."""
    from matplotlib import colormaps

    if k <= 10:
        return np.asarray(colormaps["tab10"].colors)[:k]
    if k <= 20:
        return np.asarray(colormaps["tab20"].colors)[:k]
    return colormaps["turbo"](np.linspace(0.05, 0.95, k))
