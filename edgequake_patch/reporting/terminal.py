"""Aligned, optionally coloured text for the status report and the demo.

Colour only where a person reads it: a terminal that is not `dumb`, unless NO_COLOR is set
(https://no-color.org); FORCE_COLOR asks for it anyway (a pager with -R, CI logs). Piped or
redirected output gets plain text, so it can be grepped, diffed and parsed by tests.
"""

from __future__ import annotations

import os
import sys
from typing import IO, List, Optional, Sequence, Union

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def colour_wanted(stream: IO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM", "") != "dumb"


class Painted:
    """Text with the styles to show it in; its width is the text's, whatever the styles."""

    __slots__ = ("text", "styles")

    def __init__(self, text: object, *styles: str):
        self.text = str(text)
        self.styles = styles


Cell = Union[str, Painted]


class Style:
    def __init__(self, stream: Optional[IO] = None, enabled: Optional[bool] = None):
        self.enabled = colour_wanted(stream or sys.stdout) if enabled is None else enabled

    def paint(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        return "\x1b[" + ";".join(_CODES[s] for s in styles) + "m" + text + "\x1b[0m"

    def cell(self, cell: Cell, width: int, right: bool) -> str:
        painted = cell if isinstance(cell, Painted) else Painted(cell)
        padded = painted.text.rjust(width) if right else painted.text.ljust(width)
        # Padding outside the colour codes would do as well; inside keeps one code pair a cell.
        return self.paint(padded, *painted.styles)

    def table(self, rows: Sequence[Sequence[Cell]], right: Sequence[int] = (), indent: str = "  ",
              gap: str = "  ") -> List[str]:
        """Rows as lines, each column as wide as its widest cell; `right`: columns aligned right
        (numbers). A row shorter than the others leaves its last columns empty."""
        columns = max((len(r) for r in rows), default=0)
        widths = [0] * columns
        for row in rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell.text if isinstance(cell, Painted) else cell))
        lines = []
        for row in rows:
            last = len(row) - 1  # a left-aligned last cell needs no padding
            cells = [self.cell(cell, 0 if i == last and i not in right else widths[i], i in right)
                     for i, cell in enumerate(row)]
            lines.append((indent + gap.join(cells)).rstrip())
        return lines
