"""Small-cell suppression for analysts (PRODUCT.md §5).

A count from 1 to 4 is shown as ``"<5"``, and the percentage derived from it is hidden too. Where
the cells of a table add up to a total that is shown, one hidden cell could be recovered by
subtraction: then the next smallest cell is hidden as well (secondary suppression) and shown as
``"x"`` — not as "<5", which it is not — so that at least two cells of the table are hidden or none is.
"""

from __future__ import annotations

from dataclasses import dataclass

SMALL = "<5"
HIDDEN = "x"
Count = int | str


@dataclass
class Cell:
    key: str
    count: int
    pct: float | None = None


def is_small(n: int) -> bool:
    return 1 <= n <= 4


def suppress_count(n: int) -> Count:
    return SMALL if is_small(n) else n


def suppress_table(cells: list[Cell], total_shown: bool = True) -> list[tuple[str, Count, float | None]]:
    """(key, count or "<5", percentage or None) for each cell, in the given order."""
    small = {i for i, c in enumerate(cells) if is_small(c.count)}
    secondary: set[int] = set()
    if total_shown and len(small) == 1:
        # the one hidden cell = total - the others: hide the next smallest non-zero cell too
        candidates = sorted((c.count, i) for i, c in enumerate(cells) if i not in small and c.count > 0)
        if candidates:
            secondary.add(candidates[0][1])
    out: list[tuple[str, Count, float | None]] = []
    for i, c in enumerate(cells):
        if i in small:
            out.append((c.key, SMALL, None))
        elif i in secondary:
            out.append((c.key, HIDDEN, None))
        else:
            out.append((c.key, c.count, c.pct))
    return out
