"""Shared fixtures.

``qom`` is imported inside the fixture, not at module level: conftest files load before
typeguard's import hook is installed, and an early import would leave ``qom`` unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from qom import Universe


@pytest.fixture
def universe() -> Iterator[Universe]:
    """A fresh universe (``-machine none``), current for the duration of the test."""
    from qom import Universe, use_universe

    u = Universe()
    with use_universe(u):
        yield u
