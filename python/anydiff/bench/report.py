"""Presenting results: the text table, per-task recommendations, JSON and a bar chart."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from anydiff.bench.runner import Result

__all__ = [
    "Recommendation",
    "format_seconds",
    "format_table",
    "recommend",
    "save_json",
    "save_plot",
]


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


TIE_TOLERANCE = 0.20
"""Contenders within this fraction of the fastest (or within their rounds' own noise, when
larger) tie with it. Separate runs on one machine differ by this much even when each run's
rounds agree (a fresh process, another memory layout)."""


@dataclass(frozen=True)
class Recommendation:
    """The fastest contenders of one problem and operator that passed the check.

    Attributes:
        fastest: the fastest contender and those tied with it (within noise), fastest
            first, each labelled ``anydiff ...`` or ``native ...``.
        best_anydiff: the fastest anydiff backend and its time over the fastest
            contender's (None when no anydiff backend passed).
        tolerance: the relative difference under which two contenders tie.
    """

    fastest: tuple[str, ...]
    best_anydiff: Optional[tuple[str, float]]
    tolerance: float

    def __str__(self) -> str:
        if not self.fastest:
            return "no contender passed the check"
        lead, *tied = self.fastest
        text = lead
        if tied:
            text += f" (ties with {', '.join(tied)}: within {self.tolerance:.0%}, run-to-run noise)"
        if self.best_anydiff is not None:
            name, ratio = self.best_anydiff
            if f"anydiff {name}" not in self.fastest:
                text += f"; the fastest anydiff backend is {name} at {ratio:.2f}x"
        return text


def _label(r: Result) -> str:
    return ("native " if r.native else "anydiff ") + r.contender


def _noise(r: Result) -> float:
    """How far a contender's best round is from reproducing: the gap between its two
    fastest rounds, relative to the fastest."""
    best = sorted(r.rounds)[:2]
    if len(best) < 2 or best[0] <= 0:
        return 0.0
    return (best[1] - best[0]) / best[0]


def recommend(results: Sequence[Result]) -> dict[str, Recommendation]:
    """For each ``problem operator``, the fastest contenders (anydiff or native) whose
    result checked, with every contender that ties with the fastest; and the fastest
    anydiff backend."""
    out: dict[str, Recommendation] = {}
    for (problem, operator), rs in _groups(results).items():
        ok = sorted(
            (r for r in rs if r.seconds is not None and r.check in ("ok", "reference")),
            key=lambda r: r.seconds or 0.0,
        )
        key = f"{problem} {operator}"
        if not ok:
            out[key] = Recommendation((), None, TIE_TOLERANCE)
            continue
        lead, base = ok[0], ok[0].seconds or 0.0
        tolerance, tied = TIE_TOLERANCE, []
        for r in ok[1:]:
            r_tol = max(TIE_TOLERANCE, (_noise(lead) + _noise(r)) / 2)
            if (r.seconds or 0.0) <= base * (1.0 + r_tol):
                tied.append(_label(r))
                tolerance = max(tolerance, r_tol)
        anydiff = [r for r in ok if not r.native]
        best = (anydiff[0].contender, (anydiff[0].seconds or 0.0) / base) if anydiff else None
        out[key] = Recommendation((_label(lead), *tied), best, tolerance)
    return out


def format_table(results: Sequence[Result]) -> str:
    """The results as a fixed-width table, one block per task, then recommendations."""
    head = ("problem", "operator", "contender", "time/call", "vs native", "check")
    rows: list[tuple[str, ...]] = []
    errors: list[str] = []
    for rs in _groups(results).values():
        for r in sorted(rs, key=lambda r: (r.native, r.seconds is None, r.seconds or 0.0)):
            ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
            kind = "native " if r.native else "anydiff "
            check = r.check
            if r.error is not None:
                errors.append(f"  [{len(errors) + 1}] {kind}{r.contender}: {r.error}")
                check = f"error [{len(errors)}]"
            rows.append(
                (r.problem, r.operator, kind + r.contender, format_seconds(r.seconds), ratio, check)
            )
        rows.append(("",) * len(head))
    if rows:
        rows.pop()
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.append("")
    lines.append(
        "time/call: the fastest of the interleaved rounds, each the mean of many calls (load "
        "on the machine only adds time). vs native: time / fastest native call of the same "
        "problem and operator."
    )
    lines.append(
        "check: every result is compared with the 'reference' (an exact native call where "
        "there is one); finite differences to 1e-4, the others to 1e-9."
    )
    if errors:
        lines.append("errors (the contender could not run):")
        lines += [_shorten(e, 400) for e in errors]
    lines.append("")
    for key, rec in recommend(results).items():
        lines.append(f"fastest for {key}: {rec}")
    return "\n".join(lines)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def save_json(path: str | Path, results: Sequence[Result], **extra: Any) -> None:
    """Write results, recommendations and ``extra`` fields (machine info, settings)."""
    recs = {
        key: {"fastest": list(rec.fastest), "best_anydiff": rec.best_anydiff, "text": str(rec)}
        for key, rec in recommend(results).items()
    }
    doc = {**extra, "results": [asdict(r) for r in results], "recommendations": recs}
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def save_plot(path: str | Path, results: Sequence[Result], title: str = "anydiff bench") -> None:
    """A grouped bar chart (log scale) of time per call: one group per problem and
    operator, one bar per contender, labelled with its time; native calls hatched;
    contenders that failed or mismatched are marked at the foot of their group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(results)
    names: list[str] = []
    for r in sorted(results, key=lambda r: r.native):
        if _label(r) not in names:
            names.append(_label(r))
    timed = [r.seconds for r in results if r.seconds]
    floor = min(timed) / 10 if timed else 1e-6
    fig, ax = plt.subplots(figsize=(max(7.0, 2.2 * len(groups) + 4), 5.5))
    cmap = plt.get_cmap("tab20")
    colors = {name: cmap(i % 20) for i, name in enumerate(names)}
    labelled: set[str] = set()
    for g, rs in enumerate(groups.values()):
        present = [n for n in names if any(_label(r) == n for r in rs)]
        width = 0.8 / max(1, len(present))
        for i, name in enumerate(present):
            r = next(r for r in rs if _label(r) == name)
            x = g - 0.4 + (i + 0.5) * width
            if r.seconds is None or r.check not in ("ok", "reference"):
                mark = "error" if r.seconds is None else "mismatch"
                ax.text(x, floor * 1.3, mark, rotation=90, ha="center", va="bottom", fontsize=6)
                continue
            ax.bar(
                x,
                r.seconds - floor,
                width,
                bottom=floor,
                color=colors[name],
                label=None if name in labelled else name,
                hatch="//" if r.native else None,
                edgecolor="black",
                linewidth=0.4,
            )
            ax.text(
                x, r.seconds * 1.1, format_seconds(r.seconds), rotation=90, ha="center",
                va="bottom", fontsize=6,
            )  # fmt: skip
            labelled.add(name)
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor, top=(max(timed) * 8) if timed else 1.0)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{p}\n{o}" for p, o in groups])
    ax.set_ylabel("seconds per call (log; lower is faster)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
