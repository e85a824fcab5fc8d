"""Small Markdown helpers shared by the notes and the evidence pages."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["bullets", "cellsafe", "code", "number", "table"]


def cellsafe(text: str) -> str:
    """:return: ``text`` made safe for one table cell (pipes escaped, one line)."""
    return text.replace("|", "\\|").replace("\n", " ")


def code(text: str) -> str:
    """:return: ``text`` as inline code, whatever backquotes it holds."""
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def number(n: int) -> str:
    """:return: ``n`` with thousands separators (``1,037,796``)."""
    return f"{n:,}"


def bullets(lines: Sequence[str]) -> str:
    """:return: one bullet a line."""
    return "\n".join(f"* {line}" for line in lines)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """:return: a Markdown table.

    :raise ValueError: when a row is not as wide as the header.
    """
    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"table row width differs from its header {list(header)}")
    out = ["| " + " | ".join(cellsafe(h) for h in header) + " |", "|" + " --- |" * len(header)]
    out.extend("| " + " | ".join(cellsafe(c) for c in row) + " |" for row in rows)
    return "\n".join(out)
