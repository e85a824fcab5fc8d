"""The decision rule: a matrix of verdicts, the questions the notes answer, and the choice of an option.

Nothing here decides an outcome: :class:`Matrix` holds what ``qomsim decide`` measured, and
:func:`choose` applies the rule quoted in every note (:data:`CHOICE_RULE`) to it.  What is typed in
here is only the framing of each question (its context, its options, the order of its drivers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from migration.model.results import CellResult, ScenarioOutcomes
from migration.report.evidence import evidence_link

__all__ = [
    "BASELINE",
    "CHOICE_RULE",
    "NOT_REACHED",
    "QUESTIONS",
    "Choice",
    "Matrix",
    "Question",
    "Rank",
    "choose",
]

#: the verdict written for a cell the run did not reach (budget spent); never a guess
NOT_REACHED = "not-reached"

#: the design the cost of every other design is measured against: what QEMU merged
BASELINE = "qemu-10.0"

@dataclass(frozen=True)
class Matrix:
    """The results of one ``qomsim decide`` run.

    :param seed: the Hypothesis seed every cell ran with.
    :param exhaustive: whether exhaustive confirmation was asked for.
    :param designs: design ids, in run order.
    :param properties: property ids, in spec order.
    :param scenarios: scenario ids, in spec order.
    :param all_scenarios: whether ``scenarios`` are all of the spec's (else a subset chosen by the user,
        and exhaustive evidence covers only those).
    :param cells: ``(design, property) -> result`` for every cell reached.
    :param scenario_outcomes: ``(design, scenario) -> outcomes`` (every schedule) for every scenario reached.
    :param bound: K when every cell also explored every program of up to K events (else ``None``).
    :param bound_spec: the bound exactly as written (``"1"``, ``"2+10/0"``; ``None`` with no bound).
    :param confirm_spec: the bound the options the notes choose were explored again at (``None``: none
        was); their cells hold the results at that bound.
    :param confirmed: the designs explored again at ``confirm_spec``, in the order they were.
    :param confirm_pending: the run stopped (budget spent) before the chosen options were explored again.
    :param confirm_interrupted: a signal stopped the run while it explored the chosen options again: every
        row rests on the run's bound and the notes say the choice is not confirmed.
    """

    seed: int
    exhaustive: bool
    designs: tuple[str, ...]
    properties: tuple[str, ...]
    scenarios: tuple[str, ...]
    all_scenarios: bool
    cells: Mapping[tuple[str, str], CellResult]
    scenario_outcomes: Mapping[tuple[str, str], ScenarioOutcomes]
    bound: int | None = None
    bound_spec: str | None = None
    confirm_spec: str | None = None
    confirmed: tuple[str, ...] = ()
    confirm_pending: bool = False
    confirm_interrupted: bool = False

    @property
    def complete(self) -> bool:
        """:return: whether every cell and every scenario was reached (and the chosen options explored
        again, when that was asked for)."""
        cells = len(self.cells) == len(self.designs) * len(self.properties)
        scenarios = len(self.scenario_outcomes) == len(self.designs) * len(self.scenarios)
        return cells and scenarios and not self.confirm_pending

    def cell(self, design: str, prop: str) -> CellResult | None:
        """:return: the result of one cell, or None when the run did not reach it."""
        return self.cells.get((design, prop))

    def to_json(self) -> dict[str, Any]:
        """The matrix as issue 5 specifies it, plus counts, the seed and the cells not reached.

        :return: a JSON-serialisable dict whose key order is the run order.
        """
        designs: dict[str, Any] = {}
        for d in self.designs:
            props: dict[str, Any] = {}
            missing_props: list[str] = []
            for p in self.properties:
                c = self.cell(d, p)
                if c is None:
                    missing_props.append(p)
                    continue
                entry: dict[str, Any] = {
                    "verdict": c.verdict,
                    "evidence": c.evidence,
                    "outcome": c.outcome.name,
                    "schedules_explored": c.schedules_explored,
                    "examples_sampled": c.examples_sampled,
                    "bound": c.bound,
                    "bound_spec": c.bound_spec,
                    "programs": c.programs,
                    "states": c.states,
                }
                if c.counterexample is not None:
                    entry["counterexample"] = evidence_link(d, p, "json")
                props[p] = entry
            scen: dict[str, Any] = {}
            missing_scen: list[str] = []
            for s in self.scenarios:
                o = self.scenario_outcomes.get((d, s))
                if o is None:
                    missing_scen.append(s)
                else:
                    scen[s] = o.to_json()
            designs[d] = {
                "properties": props,
                "scenarios": scen,
                "not_reached": {"properties": missing_props, "scenarios": missing_scen},
            }
        return {
            "seed": self.seed,
            "exhaustive": self.exhaustive,
            "bound": self.bound,
            "bound_spec": self.bound_spec,
            "confirm_spec": self.confirm_spec,
            "confirmed": list(self.confirmed),
            "confirm_interrupted": self.confirm_interrupted,
            "complete": self.complete,
            "properties": list(self.properties),
            "scenarios": list(self.scenarios),
            "all_scenarios": self.all_scenarios,
            "designs": designs,
        }


@dataclass(frozen=True)
class Question:
    """One design question, answered by one note.

    :param number: the note's number (``NNNN`` in its file name).
    :param slug: the title with dashes, as in the file name.
    :param title: the note's title.
    :param context: the problem statement (framing only, no outcome).
    :param drivers: the property ids this question is about; they are weighed first, then every other
        property the run checked (a design must be safe as a whole).
    :param options: spec design ids this question weighs; designs of the model's own are added by the run.
    """

    number: int
    slug: str
    title: str
    context: str
    drivers: tuple[str, ...]
    options: tuple[str, ...]

    @property
    def filename(self) -> str:
        """:return: ``NNNN-title-with-dashes.md``."""
        return f"{self.number:04d}-{self.slug}.md"


#: the questions the debate asked, in note order
QUESTIONS: tuple[Question, ...] = (
    Question(
        number=1,
        slug="migration-object-lifetime",
        title="Lifetime of the migration object and of the pointers to it",
        context=(
            "QEMU keeps one long-lived `MigrationState` (QOM type `migration`) and a file-static pointer to "
            "it (`migration/migration.c`). The main thread drops its reference early in shutdown "
            "(`migration_shutdown()`), but the outgoing migration thread, bottom halves and, since QEMU "
            "10.0, the incoming side hold references of their own, so the last reference may be dropped "
            "later, on another thread; finalize then destroys the object's locks and frees it. Code outside "
            "`migration/` (VFIO's run-state handler among others) calls the exported helpers of "
            "`include/migration/misc.h` at any point of the VM's life, up to and after that last "
            "reference.\n\n"
            "Which rule for setting, clearing and reading the pointer keeps every helper safe and truthful "
            "for the whole lifecycle, without deadlocks, and without breaking introspection of the "
            "`migration` type?"
        ),
        drivers=("no-use-after-free", "no-null-deref", "helpers-whole-lifecycle", "no-deadlock",
                 "freed-by-exit"),
        options=(
            "qemu-9.1",
            "two-globals",
            "exports-split",
            "mutex",
            "rcu",
            "identity-clear",
            "join-at-shutdown",
            "qemu-10.0",
        ),
    ),
    Question(
        number=2,
        slug="singleton-or-internal-interface",
        title="A singleton or an internal interface for the migration type",
        context=(
            "`qom-list-properties`, `device-list-properties` and HMP `device_add migration,help` create a "
            "temporary instance of a concrete type and finalize it again (`qom/qom-qmp-cmds.c`, "
            "`tests/qtest/device-introspect-test.c`). As soon as `migration`'s `instance_init` or "
            "`instance_finalize` touch the global pointer, that temporary instance can abort QEMU or clear "
            "the live object's pointer. The October 2024 debate proposed a `singleton` interface (a class "
            "that is never instantiated twice, whose introspection skips or reuses the live instance) and an"
            " `internal` interface (a class hidden from introspection and from user creation); the "
            "objections were that `object_new()` followed by `object_unref()` must always be possible and "
            "free of side effects, and that every caller would have to know which types are singletons.\n\n"
            "Which mechanism keeps introspection of `migration` working and pure while a second instance can"
            " never exist and no creation path aborts?"
        ),
        drivers=("single-instance", "introspection-works", "introspection-pure", "creation-paths-safe"),
        options=(
            "singleton-v1",
            "singleton-v2",
            "internal-hidden",
            "class-only-introspection",
            "gobject-singleton",
            "qemu-10.0",
        ),
    ),
)


@dataclass(frozen=True)
class Rank:
    """Where one option stands under the choice rule (smaller sorts first).

    :param driver_fails: the question's own drivers that fail.
    :param fails: properties that fail, drivers included.
    :param sampled: properties that hold on sampled evidence only.
    :param cost: mechanism changes from :data:`BASELINE` (None when unknown: sorts last).
    :param position: the option's place in the question's list.
    :param unreached: properties the run did not reach.
    """

    driver_fails: int
    fails: int
    sampled: int
    cost: int | None
    position: int
    unreached: int

    def key(self) -> tuple[int, int, int, int, int, int]:
        """:return: the sort key of the rule: reached first, then fewest failing drivers, fewest failures,
        fewest sampled holds, lowest cost, earliest in the list."""
        return (
            1 if self.unreached else 0,
            self.driver_fails,
            self.fails,
            self.sampled,
            self.cost if self.cost is not None else 1 << 30,
            self.position,
        )


@dataclass(frozen=True)
class Choice:
    """The option a note chooses, derived from the matrix by :func:`choose`.

    :param chosen: the chosen design id, or None when no option had every cell reached.
    :param ranking: every option with its :class:`Rank`, best first.
    :param status: the MADR status: ``accepted`` when the chosen option holds every property checked on
        exhaustive evidence, else ``proposed``.
    """

    chosen: str | None
    ranking: tuple[tuple[str, Rank], ...]
    status: str


#: the rule :func:`choose` applies, quoted in every note
CHOICE_RULE = (
    "Options are ranked by, in order: every cell reached; fewest failing drivers of this question; "
    "fewest failing properties in all; fewest properties "
    "that hold on sampled (rather than exhaustive) evidence; fewest mechanism changes from "
    f"`{BASELINE}` (what QEMU merged; the count of design knobs that differ from it); earlier in the list "
    "of considered options. The first option is chosen. The status is `accepted` when the chosen option "
    "holds every property checked on exhaustive evidence, `proposed` otherwise."
)


def choose(
    options: Sequence[str],
    properties: Sequence[str],
    matrix: Matrix,
    diffs: Mapping[str, Sequence[str]],
    drivers: Sequence[str] = (),
) -> Choice:
    """Pick an option from the results by the documented rule (:data:`CHOICE_RULE`).

    :param options: the option ids, in the question's order.
    :param properties: the property ids judged.
    :param drivers: the question's own properties (weighed first).
    :param matrix: the run's results.
    :param diffs: the knobs in which each design differs from :data:`BASELINE` (missing: unknown).
    :return: the choice, with the full ranking.
    """
    ranked: list[tuple[str, Rank]] = []
    for position, d in enumerate(options):
        cells = [matrix.cell(d, p) for p in properties]
        reached = [c for c in cells if c is not None]
        rank = Rank(
            driver_fails=sum(1 for c in reached if c.verdict == "fails" and c.property in drivers),
            fails=sum(1 for c in reached if c.verdict == "fails"),
            sampled=sum(1 for c in reached if c.verdict == "holds" and c.evidence == "sampled"),
            cost=len(diffs[d]) if d in diffs else None,
            position=position,
            unreached=len(cells) - len(reached),
        )
        ranked.append((d, rank))
    ranked.sort(key=lambda item: item[1].key())
    chosen: str | None = None
    status = "proposed"
    if ranked and ranked[0][1].unreached == 0:
        chosen = ranked[0][0]
        best = ranked[0][1]
        if best.fails == 0 and best.sampled == 0:
            status = "accepted"
    return Choice(chosen=chosen, ranking=tuple(ranked), status=status)
