"""How every report, summary and script writes a number: percentages, proportions, tables.

A value that does not exist (None, or NaN from an empty mean) prints as ``missing``:
an en dash in the Markdown and HTML reports, where it reads as an empty cell, and a
hyphen in the plain-text ``cola summary``, which stays ASCII.
"""

from __future__ import annotations

import html
import math
from typing import Protocol

DASH = "–"


class Rate(Protocol):
    """A proportion with its interval, as :class:`cola.report.stats.Proportion` has."""

    successes: int
    n: int

    @property
    def value(self) -> float | None: ...
    @property
    def low(self) -> float | None: ...
    @property
    def high(self) -> float | None: ...


def _absent(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pct(value: float | None, missing: str = DASH, digits: int = 1) -> str:
    """``0.25`` -> ``"25.0%"``."""
    return missing if _absent(value) else f"{100 * value:.{digits}f}%"


def num(value: float | None, missing: str = DASH, digits: int = 2) -> str:
    """``2.5`` -> ``"2.50"``."""
    return missing if _absent(value) else f"{value:.{digits}f}"


def proportion(
    rate: Rate | None,
    missing: str = DASH,
    counts: str = "({successes}/{n})",
    digits: int = 1,
    interval: bool = True,
) -> str:
    """``"42.9% [15.8%, 75.0%] (3/7)"``: the value, its 95% interval and its counts (``counts`` lays them out).

    ``interval=False`` leaves the interval out (``"43% (3/7)"`` with ``digits=0``), for
    tables too narrow to hold it.
    """
    if rate is None or not rate.n:
        return missing
    tally = counts.format(successes=rate.successes, n=rate.n)
    if not interval:
        return f"{pct(rate.value, missing, digits)} {tally}"
    bounds = f"[{pct(rate.low, missing, digits)}, {pct(rate.high, missing, digits)}]"
    return f"{pct(rate.value, missing, digits)} {bounds} {tally}"


def md_table(header: list[str], body: list[list[str]]) -> str:
    """A Markdown table; a ``|`` inside a cell is escaped."""

    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def html_table(header: list[str], body: list[list[str]]) -> str:
    """An HTML table with every cell escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
