"""docs/known-differences.md's per-version table says what tests/known_differences.py says.

The differential tests check the real QEMUs against the data; this checks the data against the doc,
so a difference cannot be allowed by a test without being listed, per version, for readers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from known_differences import DIFFERENCES, agrees, qemu_side
from qemu_helpers import QEMU_VERSIONS

DOC = Path(__file__).resolve().parent.parent / "docs" / "known-differences.md"
HEADER = ["id", *(f"QEMU {v}" for v in QEMU_VERSIONS), "qomsim", "why"]
SAME_CELL = "same as qomsim"


def doc_table(text: str | None = None) -> dict[str, dict[str, str]]:
    """:param text: the doc (default: docs/known-differences.md).
    :return: the per-version table, id -> column -> cell."""
    rows: dict[str, dict[str, str]] = {}
    lines = (DOC.read_text(encoding="utf-8") if text is None else text).splitlines()
    start = next(i for i, line in enumerate(lines) if _cells(line) == HEADER)
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(HEADER), line
        key = cells[0].strip("`")
        assert key not in rows, f"{key} listed twice"
        rows[key] = dict(zip(HEADER, cells, strict=True))
    return rows


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def terms(value: Any) -> list[str]:
    """:param value: one side of a difference.
    :return: the texts its doc cell must quote."""
    if isinstance(value, frozenset):
        return [f"`{name}`" for name in sorted(value)]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [f"`{json.dumps(value)}`"]
    if isinstance(value, dict) and "error" in value:
        error = value["error"]
        return [f"`{error['desc']}`"] + ([] if error["class"] == "GenericError" else [f"`{error['class']}`"])
    inner = value.get("return", value) if isinstance(value, dict) else None
    version = inner.get("qemu") if isinstance(inner, dict) else None
    if isinstance(version, dict):
        return [f"`{version['major']}.{version['minor']}.{version['micro']}`"]
    return []


def test_the_doc_lists_exactly_the_allowed_differences() -> None:
    assert sorted(doc_table()) == sorted(DIFFERENCES)


def check_row(key: str, row: dict[str, str]) -> None:
    """:param key: a difference's id.
    :param row: its row in the doc.
    :raise AssertionError: when the row does not say what the data says."""
    for version in QEMU_VERSIONS:
        cell = row[f"QEMU {version}"]
        if agrees(key, version):
            assert cell == SAME_CELL, (key, version)
        else:
            assert cell != SAME_CELL, (key, version)
            for term in terms(qemu_side(key, version)):
                assert term in cell, (key, version, term)
    for term in terms(DIFFERENCES[key].qomsim):
        assert term in row["qomsim"], (key, term)
    assert row["why"], key


@pytest.mark.parametrize("key", sorted(DIFFERENCES))
def test_each_version_column_says_what_the_data_says(key: str) -> None:
    check_row(key, doc_table()[key])


def test_every_difference_is_somewhere_different() -> None:
    # a row where every QEMU agrees with qomsim is no difference: drop it instead
    for key in DIFFERENCES:
        assert not all(agrees(key, v) for v in QEMU_VERSIONS), key


@pytest.mark.parametrize(("old", "new"), [
    # 10.0.2 said to agree where it differs
    ("| `audiodevs`, `backend`, `objects` | `audiodevs` |",
     f"| `audiodevs`, `backend`, `objects` | {SAME_CELL} |"),
    # a crashing type left out of 10.0.2's cell
    ("`memory-region-portio-list`, `qemu-text-console`", "`qemu-text-console`"),
    # 10.0.2 said to differ where it agrees
    ("| `'1' is not a valid device model name` | same as qomsim |",
     "| `'1' is not a valid device model name` | `'1' is not a valid device model name` |"),
])
def test_the_check_catches_a_wrong_cell(old: str, new: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert old in text
    rows = doc_table(text.replace(old, new))
    failures = 0
    for key, row in rows.items():
        try:
            check_row(key, row)
        except AssertionError:
            failures += 1
    assert failures == 1
