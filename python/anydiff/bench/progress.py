"""A one-line progress display on stderr (no dependency; silent when stderr is not a
terminal), and the collection of warnings raised while the bench runs, so that library
warnings do not garble the line and are shown once, after the table."""

from __future__ import annotations

import sys
import time
import warnings
from contextlib import contextmanager
from typing import Iterator, TextIO

__all__ = ["Progress", "collect_warnings"]


class Progress:
    """``done / total`` steps and a description, redrawn at most every 0.1 s."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total, self.done, self.description = max(total, 1), 0, ""
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = enabled and self._stream.isatty()
        self._drawn_at = 0.0

    def describe(self, text: str) -> None:
        """Show ``text`` before the counter."""
        self.description = text
        self._draw(force=True)

    def update(self, steps: int = 1) -> None:
        """Count ``steps`` more steps done."""
        self.done = min(self.total, self.done + steps)
        self._draw()

    def close(self) -> None:
        """Erase the line."""
        if self._enabled:
            self._stream.write("\r\033[K")
            self._stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._enabled or (not force and now - self._drawn_at < 0.1):
            return
        self._drawn_at = now
        width = 24
        filled = width * self.done // self.total
        bar = "#" * filled + "." * (width - filled)
        self._stream.write(f"\r\033[K{self.description} [{bar}] {self.done}/{self.total}")
        self._stream.flush()


@contextmanager
def collect_warnings() -> Iterator[list[str]]:
    """Record warnings raised inside the block (each distinct message once)."""
    seen: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield seen
        finally:
            for w in caught:
                text = f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
                if text not in seen:
                    seen.append(text)
