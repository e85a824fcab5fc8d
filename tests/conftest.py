"""Shared fixtures.

``qom`` is imported inside the fixture, not at module level: conftest files load before
typeguard's import hook is installed, and an early import would leave ``qom`` unchecked.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from migration.check.bounded import Bounded
    from qom import Universe


@pytest.fixture
def universe() -> Iterator[Universe]:
    """A fresh universe (``-machine none``), current for the duration of the test."""
    from qom import Universe, use_universe

    u = Universe()
    with use_universe(u):
        yield u


@pytest.fixture
def core_without_sanitizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sabotage: the core's entry points stop checking for finalized objects (the inline checks of
    ``object_unref`` and the get/set fast paths stay), for tests that must see a checker fail."""
    import qom.initialize
    import qom.object
    import qom.property
    import qom.tree

    def no_check(obj: object, op: str, what: str = "obj") -> object:
        return obj

    for mod in (qom.object, qom.property, qom.tree, qom.initialize):
        for name in ("check_live", "check_table"):
            if hasattr(mod, name):
                monkeypatch.setattr(mod, name, no_check)


@pytest.fixture(scope="session")
def explored() -> Callable[[str], Bounded]:
    """The default exploration of a preset at K = 1 (``explore_bounded(DESIGNS[name], 1)``), run once per
    session: several modules check different claims on the same exploration.  Each call returns a copy,
    so a test that changes what it got changes nothing another test sees."""
    from migration import DESIGNS
    from migration.check.bounded import explore_bounded

    done: dict[str, Bounded] = {}

    def get(name: str) -> Bounded:
        if name not in done:
            done[name] = explore_bounded(DESIGNS[name], 1)
        return copy.deepcopy(done[name])

    return get
