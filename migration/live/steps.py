"""A live run's trace: every step counted, only the most recent ones held.

A live model runs for as long as clients keep asking (``qomsim serve`` may answer millions of
requests), so its world cannot hold every step it took: :class:`RecentSteps` stands in for
:attr:`migration.model.runtime.World.trace` and keeps the last ``keep`` steps (all of them when
``keep`` is ``None``, which ``serve --trace`` asks for: the saved run is replayed from its start).

The model's code only appends to its trace (it counts its steps in ``World.steps``).  ``len()`` counts
every step ever recorded and an index is one of the whole run, so the printed trace keeps the step
numbers its faults name.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from migration.model.outcomes import TraceStep

__all__ = ["RecentSteps"]


class RecentSteps:
    """The steps of one run, the oldest forgotten past ``keep``.

    :param keep: how many recent steps to hold (``None``: every step).
    :param main: the main thread's actor name (its steps are not counted in :attr:`others`).
    """

    def __init__(self, keep: int | None, main: str = "main") -> None:
        self.keep = keep
        self._main = main
        self._steps: deque[TraceStep] = deque(maxlen=keep)
        self._count = 0
        #: steps taken by actors other than the main thread, over the whole run
        self.others = 0

    def __repr__(self) -> str:
        return f"RecentSteps({self._count} steps, {len(self._steps)} held)"

    def append(self, step: TraceStep) -> None:
        """Record the next step (the oldest held one is forgotten when ``keep`` are held).

        :param step: the step.
        """
        self._steps.append(step)
        self._count += 1
        if step.actor != self._main:
            self.others += 1

    def __len__(self) -> int:
        """:return: the steps recorded over the whole run (held or forgotten)."""
        return self._count

    @property
    def dropped(self) -> int:
        """:return: how many of the oldest steps are no longer held."""
        return self._count - len(self._steps)

    def __getitem__(self, index: int) -> TraceStep:
        """:param index: a step index of the whole run, or negative (from the last step back).
        :return: that step.
        :raise IndexError: when it is out of range or no longer held.
        """
        i = index + self._count if index < 0 else index
        if not self.dropped <= i < self._count:
            raise IndexError(f"step {index} is not held (steps {self.dropped}..{self._count - 1} are)")
        return self._steps[i - self.dropped]

    def __iter__(self) -> Iterator[TraceStep]:
        """:return: the held steps, oldest first."""
        return iter(self._steps)

    def held(self) -> list[TraceStep]:
        """:return: the held steps, oldest first, as a list."""
        return list(self._steps)
