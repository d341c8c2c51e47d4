"""Presenting results: the text table, per-task recommendations, JSON and a bar chart."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional, Sequence

from anydiff.bench.runner import Result

__all__ = ["format_seconds", "format_table", "recommend", "save_json", "save_plot"]


def format_seconds(s: Optional[float]) -> str:
    """``s`` seconds with a readable unit (``-`` for None)."""
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _groups(results: Sequence[Result]) -> dict[tuple[str, str], list[Result]]:
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.problem, r.operator), []).append(r)
    return groups


def recommend(results: Sequence[Result]) -> dict[str, Optional[str]]:
    """For each ``problem operator``, the fastest anydiff backend whose result checked."""
    best: dict[str, Optional[str]] = {}
    for (problem, operator), rs in _groups(results).items():
        ok = [
            r
            for r in rs
            if not r.native and r.seconds is not None and r.check in ("ok", "reference")
        ]
        key = f"{problem} {operator}"
        best[key] = min(ok, key=lambda r: r.seconds or 0.0).contender if ok else None
    return best


def format_table(results: Sequence[Result]) -> str:
    """The results as a fixed-width table, one block per task, then recommendations."""
    head = ("problem", "operator", "contender", "time/call", "vs native", "check")
    rows: list[tuple[str, ...]] = []
    for rs in _groups(results).values():
        for r in sorted(rs, key=lambda r: (r.native, r.seconds is None, r.seconds or 0.0)):
            ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
            kind = "native " if r.native else "anydiff "
            rows.append(
                (
                    r.problem,
                    r.operator,
                    kind + r.contender,
                    format_seconds(r.seconds),
                    ratio,
                    r.check,
                )
            )
        rows.append(("",) * len(head))
    if rows:
        rows.pop()
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.append("")
    lines.append("vs native: time per call / fastest native call of the same problem and operator.")
    for key, name in recommend(results).items():
        lines.append(f"recommended for {key}: {name or 'no anydiff backend passed the check'}")
    return "\n".join(lines)


def save_json(path: str | Path, results: Sequence[Result], **extra: Any) -> None:
    """Write results, recommendations and ``extra`` fields (machine info, settings)."""
    doc = {**extra, "results": [asdict(r) for r in results], "recommendations": recommend(results)}
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def save_plot(path: str | Path, results: Sequence[Result], title: str = "anydiff bench") -> None:
    """A grouped bar chart (log scale) of time per call: one group per problem and
    operator, one bar per contender; native calls hatched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(results)
    names: list[str] = []
    native: dict[str, bool] = {}
    for r in results:
        if r.seconds is not None and r.contender not in names:
            names.append(r.contender)
            native[r.contender] = r.native
    names.sort(key=lambda n: native[n])
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(groups) + 3), 5))
    cmap = plt.get_cmap("tab20")
    colors = {name: cmap(i % 20) for i, name in enumerate(names)}
    labelled: set[str] = set()
    for g, rs in enumerate(groups.values()):
        present = [n for n in names if any(r.contender == n and r.seconds for r in rs)]
        width = 0.8 / max(1, len(present))
        for i, name in enumerate(present):
            t = next(r.seconds for r in rs if r.contender == name)
            label = ("native " if native[name] else "anydiff ") + name
            ax.bar(
                g - 0.4 + (i + 0.5) * width,
                t,
                width,
                color=colors[name],
                label=None if name in labelled else label,
                hatch="//" if native[name] else None,
                edgecolor="black",
                linewidth=0.4,
            )
            labelled.add(name)
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{p}\n{o}" for p, o in groups])
    ax.set_ylabel("seconds per call (log)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
