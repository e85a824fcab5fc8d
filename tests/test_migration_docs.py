"""The runnable examples in the migration modules' docstrings still run, and the search still finds
the proposal it recorded."""

from __future__ import annotations

import doctest

import pytest

import migration.check.cell
import migration.model.designs


@pytest.mark.parametrize("module", [migration.model.designs, migration.check.cell])
def test_docstring_examples_run(module: object) -> None:
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert attempted > 0
    assert failed == 0


@pytest.mark.slow
def test_search_finds_the_recorded_proposal() -> None:
    from migration.check.search import PROPOSAL, search

    result = search(max_changes=3)
    assert result.design is not None
    assert result.changes == PROPOSAL
    assert result.tried == 167
