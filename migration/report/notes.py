"""Rendering of the design × property matrix into MADR 4 decision notes.

Nothing in this module decides an outcome: every verdict it prints comes from the :class:`Matrix` it is
given, which ``qomsim decide`` (:mod:`migration.report.decide`) fills by running the model. What is typed
in here is
only the framing of each question (its context, the options it weighs, the order of its drivers) and the
documented rule that picks the chosen option from the results (:func:`choose`).

Everything rendered is deterministic: ordering follows the spec's ids, never a set or a dict built on the way,
and the date and seed are arguments.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from migration.model.outcomes import Fault, Outcome, TraceStep
from migration.model.results import CellResult, Counterexample

__all__ = [
    "BASELINE",
    "CHOICE_RULE",
    "NOT_REACHED",
    "QUESTIONS",
    "TEMPLATE_FIELDS",
    "Choice",
    "Matrix",
    "Question",
    "Rank",
    "choose",
    "decisions",
    "default_template",
    "evidence_name",
    "load_template",
    "render_all",
    "render_evidence",
    "render_index",
    "render_note",
]

#: the verdict written for a cell the run did not reach (budget spent); never a guess
NOT_REACHED = "not-reached"

#: the design the cost of every other design is measured against: what QEMU merged
BASELINE = "qemu-10.0"

#: placeholders a MADR template may use (``string.Template`` syntax, ``$name``)
TEMPLATE_FIELDS: tuple[str, ...] = (
    "status",
    "date",
    "title",
    "seed",
    "context",
    "drivers",
    "options",
    "outcome",
    "consequences",
    "confirmation",
    "pros_and_cons",
    "more_information",
)


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
    :param scenario_outcomes: ``(design, scenario) -> outcome`` for every scenario replayed.
    """

    seed: int
    exhaustive: bool
    designs: tuple[str, ...]
    properties: tuple[str, ...]
    scenarios: tuple[str, ...]
    all_scenarios: bool
    cells: Mapping[tuple[str, str], CellResult]
    scenario_outcomes: Mapping[tuple[str, str], Outcome]

    @property
    def complete(self) -> bool:
        """:return: whether every cell and every scenario was reached."""
        return len(self.cells) == len(self.designs) * len(self.properties) and len(
            self.scenario_outcomes
        ) == len(self.designs) * len(self.scenarios)

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
                }
                if c.counterexample is not None:
                    entry["counterexample"] = f"evidence/{evidence_name(d, p)}.json"
                props[p] = entry
            scen: dict[str, Any] = {}
            missing_scen: list[str] = []
            for s in self.scenarios:
                o = self.scenario_outcomes.get((d, s))
                if o is None:
                    missing_scen.append(s)
                else:
                    scen[s] = {"outcome": o.name}
            designs[d] = {
                "properties": props,
                "scenarios": scen,
                "not_reached": {"properties": missing_props, "scenarios": missing_scen},
            }
        return {
            "seed": self.seed,
            "exhaustive": self.exhaustive,
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
        drivers=("no-use-after-free", "no-null-deref", "helpers-whole-lifecycle", "no-deadlock"),
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


def evidence_name(design: str, prop: str) -> str:
    """:return: the base name (no extension) of a failing cell's evidence files."""
    return f"{design}--{prop}"


def default_template() -> str:
    """:return: the MADR 4 template shipped in ``migration/report/templates/madr.md``."""
    return resources.files("migration.report").joinpath("templates/madr.md").read_text(encoding="utf-8")


def load_template(path: Path | None) -> str:
    """Read a MADR template and check its placeholders.

    :param path: a user's template, or None for the shipped one.
    :return: the template text.
    :raise ValueError: when the template uses a placeholder outside :data:`TEMPLATE_FIELDS` or is not a
        valid ``string.Template``.
    """
    text = default_template() if path is None else path.read_text(encoding="utf-8")
    tpl = string.Template(text)
    if not tpl.is_valid():
        raise ValueError(f"template '{path}' has an invalid '$' placeholder (write '$$' for a dollar sign)")
    unknown = sorted(set(tpl.get_identifiers()) - set(TEMPLATE_FIELDS))
    if unknown:
        raise ValueError(
            f"template '{path}' uses unknown placeholder(s) {', '.join('$' + u for u in unknown)}; "
            f"known: {', '.join('$' + f for f in TEMPLATE_FIELDS)}"
        )
    return text


# --------------------------------------------------------------------------------------------------------
# small Markdown helpers


def _cellsafe(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def _evidence_label(c: CellResult) -> str:
    return "exhaustive" if c.evidence == "exhaustive" else "sampled"


def _cell_text(c: CellResult | None, link_prefix: str) -> str:
    if c is None:
        return NOT_REACHED
    if c.verdict == "holds":
        return f"holds ({_evidence_label(c)})"
    link = ""
    if c.counterexample is not None:
        link = f" [trace]({link_prefix}{evidence_name(c.design, c.property)}.md)"
    return f"**fails** {c.outcome.name} ({_evidence_label(c)}){link}"


def _bullets(lines: Sequence[str]) -> str:
    return "\n".join(f"* {line}" for line in lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"table row width differs from its header {list(header)}")
    out = ["| " + " | ".join(_cellsafe(h) for h in header) + " |", "|" + " --- |" * len(header)]
    out.extend("| " + " | ".join(_cellsafe(c) for c in row) + " |" for row in rows)
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------------
# counterexamples


def _program_lines(program: Any) -> list[str]:
    if not isinstance(program, list):
        return [_code(json.dumps(program, sort_keys=True))]
    lines = []
    for i, step in enumerate(program, 1):
        if isinstance(step, dict) and isinstance(step.get("event"), str):
            rest = {k: v for k, v in sorted(step.items()) if k != "event"}
            text = step["event"] + ("" if not rest else " " + json.dumps(rest, sort_keys=True))
        else:
            text = step if isinstance(step, str) else json.dumps(step, sort_keys=True)
        lines.append(f"{i}. {_code(text)}")
    return lines


def _mermaid_text(text: str) -> str:
    # ';' ends a Mermaid statement and '#' starts an entity code: write '#' as its entity, '#35;'.
    return text.replace(";", ",").replace("#", "#35;").replace("\n", " ")


def _mermaid(trace: Sequence[TraceStep], fault: Fault, fault_text: str) -> str:
    names: list[str] = []
    for st in trace:
        for name in (st.actor, st.obj):
            if name and name not in names:
                names.append(name)
    if fault.actor and fault.actor not in names:
        names.append(fault.actor)
    pid = {name: f"P{i}" for i, name in enumerate(names)}
    lines = ["```mermaid", "sequenceDiagram"]
    lines.extend(f"    participant {pid[n]} as {_mermaid_text(n)}" for n in names)
    # the fault is noted over the actor that suffered it, after the step where it happened (or at the end)
    fault_note = f"    Note over {pid.get(fault.actor, 'P0')}: {_mermaid_text(fault_text)}"
    noted = False
    for st in trace:
        ref = "" if st.refcount is None else f" (ref {st.refcount})"
        label = _mermaid_text(f"{st.index}. {st.action}{ref}")
        if st.obj and st.obj != st.actor:
            lines.append(f"    {pid[st.actor]}->>{pid[st.obj]}: {label}")
        else:
            lines.append(f"    Note over {pid[st.actor]}: {label}")
        if st.index == fault.step and not noted:
            lines.append(fault_note)
            noted = True
    if not noted and names:
        lines.append(fault_note)
    lines.append("```")
    return "\n".join(lines)


def render_evidence(cx: Counterexample, cell: CellResult, replay_path: str) -> str:
    """Render one counterexample: program, schedule, numbered trace, Mermaid diagram, replay command.

    :param cx: the counterexample of a failing cell.
    :param cell: the cell it belongs to (for its evidence kind and counts).
    :param replay_path: the path of its saved JSON as the ``qomsim replay`` command should name it.
    :return: Markdown text.
    """
    f = cx.fault
    fault_text = f"{f.outcome.name} at step {f.step}: {f.detail}" if f.detail else f"{f.outcome.name}"
    how = (
        f"exhaustive ({cell.schedules_explored} schedules explored)"
        if cell.evidence == "exhaustive"
        else f"sampled ({cell.examples_sampled} Hypothesis examples)"
    )
    scenario = _code(cx.scenario) if cx.scenario else "a program drawn by Hypothesis and shrunk"
    out = [
        f"# {_code(cx.design)} fails {_code(cx.property)}",
        "",
        f"* Outcome: **{f.outcome.name}** at step {f.step}, actor {_code(f.actor)}, object {_code(f.obj)}"
        + (f": {f.detail}" if f.detail else ""),
        f"* Evidence: {how}",
        f"* Scenario: {scenario}",
        f"* Saved counterexample: [{Path(replay_path).name}]({Path(replay_path).name})",
        "",
        "Replay it step by step:",
        "",
        "```sh",
        f"qomsim replay {replay_path}",
        "```",
        "",
        "## Program",
        "",
        *(_program_lines(cx.to_json().get("program", cx.program)) or ["(empty)"]),
        "",
        "## Schedule",
        "",
        _code(json.dumps(list(cx.schedule)))
        + ": the scheduler's choice at each step, an index into the actors that can run; past the end of "
        "the list (and for an empty list) the oldest runnable actor runs.",
        "",
        "## Trace",
        "",
        _table(
            ["#", "actor", "step", "object", "refcount", "note"],
            [
                [
                    str(st.index),
                    st.actor,
                    st.action,
                    st.obj,
                    "" if st.refcount is None else str(st.refcount),
                    ("**" + fault_text + "** " if st.index == f.step else "") + st.note,
                ]
                for st in cx.trace
            ],
        ),
        "",
        "## Sequence diagram",
        "",
        _mermaid(cx.trace, f, fault_text),
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------------
# notes


def _judged(question: Question, matrix: Matrix) -> tuple[str, ...]:
    first = [p for p in question.drivers if p in matrix.properties]
    return (*first, *(p for p in matrix.properties if p not in first))


def _options(question: Question, matrix: Matrix) -> tuple[str, ...]:
    spec_ids = {d for q in QUESTIONS for d in q.options}
    listed = [d for d in question.options if d in matrix.designs]
    own = [d for d in matrix.designs if d not in spec_ids]
    return (*listed, *own)


def _summary(design: str, summaries: Mapping[str, str]) -> str:
    return summaries.get(design) or "a design of the model's own"


def _confirmation(matrix: Matrix, options: Sequence[str], props: Sequence[str]) -> str:
    flags = "" if matrix.all_scenarios else f" --scenarios {','.join(matrix.scenarios)}"
    flags += "" if matrix.exhaustive else " --no-exhaustive"
    decide = (
        f"qomsim decide --seed {matrix.seed} --designs {','.join(options)} --properties {','.join(props)}"
    )
    return decide + flags


def render_note(
    question: Question,
    matrix: Matrix,
    *,
    date: str,
    template: str,
    out_display: str,
    diffs: Mapping[str, Sequence[str]],
    summaries: Mapping[str, str] | None = None,
    property_texts: Mapping[str, str] | None = None,
    qmp_visible: Mapping[str, Sequence[str]] | None = None,
) -> str | None:
    """Render one MADR note from the run's results.

    :param question: the question the note answers.
    :param matrix: the run's results.
    :param date: the note's date (``YYYY-MM-DD``).
    :param template: a MADR template (see :func:`load_template`).
    :param out_display: the notes directory as commands in the note should name it.
    :param diffs: the knobs in which each design differs from :data:`BASELINE`.
    :param summaries: one-line summaries of the designs (what each does).
    :param property_texts: what each property says, one line each.
    :param qmp_visible: per design, what a QMP client sees change compared with :data:`BASELINE` (one
        sentence each; designs left out: not said).
    :return: the note, or None when the run checked none of the question's options.
    """
    summaries = summaries or {}
    visible = qmp_visible or {}
    options = _options(question, matrix)
    if not options or not matrix.properties:
        return None
    props = _judged(question, matrix)
    own = [p for p in question.drivers if p in matrix.properties]
    choice = choose(options, props, matrix, diffs, own)
    command = _confirmation(matrix, options, props)

    others = [p for p in props if p not in own]
    texts = property_texts or {}

    def said(p: str) -> str:
        return f"{_code(p)}: {texts[p]}" if p in texts else _code(p)

    drivers = "This question's own properties, weighed first:\n\n" + _bullets([said(p) for p in own])
    if others:
        drivers += (
            "\n\nEvery other property checked, weighed next (a design must be safe as a whole):\n\n"
            + _bullets([said(p) for p in others])
        )
    considered = _bullets([f"{_code(d)}: {_summary(d, summaries)}" for d in options])

    matrix_table = _table(
        ["option", *props],
        [[_code(d), *(_cell_text(matrix.cell(d, p), "evidence/") for p in props)] for d in options],
    )
    if choice.chosen is None:
        outcome = (
            "No option chosen: the run did not reach every cell of any option, and a verdict is never "
            "guessed. Re-run with a larger `--budget`."
        )
        consequences = _bullets(["Neutral, because nothing is decided yet."])
    else:
        d = choice.chosen
        rank = dict(choice.ranking)[d]
        held = [p for p in props if (c := matrix.cell(d, p)) is not None and c.verdict == "holds"]
        failed = [p for p in props if (c := matrix.cell(d, p)) is not None and c.verdict == "fails"]
        exh = sum(1 for p in held if (c := matrix.cell(d, p)) is not None and c.evidence == "exhaustive")
        cost = "an unknown number of" if rank.cost is None else str(rank.cost)
        if not failed:
            because = (
                f"it holds every one of the {len(props)} properties checked ({exh} on exhaustive evidence, "
                f"{len(held) - exh} sampled) and, of the options that do, it ranks first by the rule below "
                f"({cost} mechanism changes from `{BASELINE}`)"
            )
        else:
            fail_list = ", ".join(f"{_code(p)} ({_outcome_of(matrix, d, p)})" for p in failed)
            because = (
                f"no option holds every property checked, and it ranks first by the rule below: it fails "
                f"{rank.driver_fails} of this question's {len(own)} drivers and {len(failed)} of the "
                f"{len(props)} properties in all ({fail_list})"
            )
        outcome = f'Chosen option: "{d}", because {because}.'
        cons: list[str] = []
        cons.extend(f"Good, because {_code(p)} holds ({_evidence_label(_must(matrix, d, p))})" for p in held)
        cons.extend(_bad_line(matrix, d, p) for p in failed)
        if d in diffs:
            cons.append(_cost_line(d, diffs[d], visible))
        consequences = _bullets(cons)
    outcome += (
        "\n\nThe evidence, cell by cell (every verdict below comes from the run that wrote this note):\n\n"
    )
    outcome += matrix_table

    confirmation = (
        "Re-run the checks that decided this note (same seed, same designs and properties; the verdicts "
        "must be the same):\n\n```sh\n" + command + "\n```"
    )
    if choice.chosen is not None and matrix.exhaustive:
        # `qomsim check` runs a cell exactly as `decide` does by default: enumeration, then sampling
        picks = "".join(f" --property {p}" for p in props)
        if not matrix.all_scenarios:
            picks += "".join(f" --scenario {s}" for s in matrix.scenarios)
        confirmation += (
            "\n\nThe chosen option alone, with the same evidence (`qomsim check` exits 0 only when every "
            f"property holds):\n\n```sh\nqomsim check --design {choice.chosen} --seed {matrix.seed}{picks}"
            "\n```"
        )

    pros: list[str] = []
    for d in options:
        pros.append(f"### {_code(d)}\n\nMechanism: {_summary(d, summaries)}.\n")
        lines: list[str] = []
        for p in props:
            c = matrix.cell(d, p)
            if c is None:
                lines.append(f"Neutral, because {_code(p)} was {NOT_REACHED} in this run")
            elif c.verdict == "holds":
                lines.append(f"Good, because {_code(p)} holds ({_evidence_label(c)})")
            else:
                lines.append(_bad_line(matrix, d, p))
        if d in diffs:
            lines.append(_cost_line(d, diffs[d], visible))
        pros.append(_bullets(lines) + "\n")
    pros_and_cons = "\n".join(pros).rstrip("\n")

    more = [
        f"How the option was chosen. {CHOICE_RULE}",
        "",
        _table(
            [
                "rank",
                "option",
                "drivers failing",
                "properties failing",
                "holds on sampled evidence",
                f"changes from {BASELINE}",
                "not reached",
            ],
            [
                [
                    str(i),
                    _code(d),
                    str(r.driver_fails),
                    str(r.fails),
                    str(r.sampled),
                    "unknown" if r.cost is None else str(r.cost),
                    str(r.unreached),
                ]
                for i, (d, r) in enumerate(choice.ranking, 1)
            ],
        ),
        "",
    ]
    if matrix.scenarios:
        more.extend(
            [
                "Outcome of each scenario of the spec (§4) replayed on its default schedule:",
                "",
                _table(
                    ["scenario", *(_code(d) for d in options)],
                    [[s, *(_scenario_text(matrix, d, s) for d in options)] for s in matrix.scenarios],
                ),
                "",
            ]
        )
    more.append(
        f"Written by `qomsim decide` (seed {matrix.seed}, "
        f"{'exhaustive confirmation' if matrix.exhaustive else 'sampling only'}). The designs, scenarios "
        "and properties are those of the spec `migration-designs.md`"
        + (
            ""
            if matrix.all_scenarios
            else " (only the scenarios listed above were replayed and enumerated: here `exhaustive` means "
            "every schedule of those scenarios)"
        )
        + "; a failing cell links to its "
        f"counterexample in `{out_display}/evidence/`. Do not edit by hand: `qomsim decide` refuses to "
        "overwrite an edited note unless given `--force`."
    )
    fields = {
        "status": choice.status,
        "date": date,
        "title": question.title,
        "seed": str(matrix.seed),
        "context": question.context,
        "drivers": drivers,
        "options": considered,
        "outcome": outcome,
        "consequences": consequences,
        "confirmation": confirmation,
        "pros_and_cons": pros_and_cons,
        "more_information": "\n".join(more),
    }
    text = string.Template(template).substitute(fields)
    return text.rstrip("\n") + "\n"


def _cost_line(d: str, knobs: Sequence[str], qmp_visible: Mapping[str, Sequence[str]]) -> str:
    if d == BASELINE:
        return f"Neutral, because it is `{BASELINE}`, what QEMU merged: no mechanism changes"
    if not knobs:
        return f"Neutral, because it has the same mechanism knobs as `{BASELINE}`"
    seen = ""
    if d in qmp_visible:
        said = qmp_visible[d]
        seen = f"; what QMP clients see: {'; '.join(said)}" if said else "; QMP clients see no difference"
    return (
        f"Neutral, because it changes {len(knobs)} mechanism knob(s) of `{BASELINE}`: "
        f"{', '.join(_code(k) for k in knobs)}{seen}"
    )


def _must(matrix: Matrix, d: str, p: str) -> CellResult:
    c = matrix.cell(d, p)
    if c is None:  # pragma: no cover - callers only ask for reached cells
        raise KeyError((d, p))
    return c


def _outcome_of(matrix: Matrix, d: str, p: str) -> str:
    return _must(matrix, d, p).outcome.name


def _bad_line(matrix: Matrix, d: str, p: str) -> str:
    c = _must(matrix, d, p)
    where = ""
    if c.counterexample is not None:
        cx = c.counterexample
        scen = f" in {_code(cx.scenario)}" if cx.scenario else ""
        where = f"{scen}, see [the trace](evidence/{evidence_name(d, p)}.md)"
    return f"Bad, because {_code(p)} fails with {c.outcome.name} ({_evidence_label(c)}){where}"


def _scenario_text(matrix: Matrix, d: str, s: str) -> str:
    o = matrix.scenario_outcomes.get((d, s))
    return NOT_REACHED if o is None else o.name


def decisions(
    matrix: Matrix, diffs: Mapping[str, Sequence[str]], questions: Sequence[Question] = QUESTIONS
) -> list[tuple[Question, Choice]]:
    """The choice each question's note makes, for a one-line summary at the end of a run.

    :param matrix: the run's results.
    :param diffs: the knobs in which each design differs from :data:`BASELINE`.
    :param questions: the questions.
    :return: ``(question, choice)`` for every question the run checked an option of.
    """
    out: list[tuple[Question, Choice]] = []
    for q in questions:
        options = _options(q, matrix)
        if options and matrix.properties:
            own = [p for p in q.drivers if p in matrix.properties]
            out.append((q, choose(options, _judged(q, matrix), matrix, diffs, own)))
    return out


def render_index(
    matrix: Matrix,
    *,
    date: str,
    diffs: Mapping[str, Sequence[str]],
    questions: Sequence[Question] = QUESTIONS,
) -> str | None:
    """The index of the notes a run writes (``README.md`` of the notes directory).

    :param matrix: the run's results.
    :param date: the notes' date.
    :param diffs: the knobs in which each design differs from :data:`BASELINE`.
    :param questions: the questions.
    :return: Markdown text, or None when no note is written.
    """
    rows = [
        [
            f"[{q.number:04d}]({q.filename})",
            q.title,
            c.status,
            "none" if c.chosen is None else _code(c.chosen),
        ]
        for q, c in decisions(matrix, diffs, questions)
    ]
    if not rows:
        return None
    return (
        "# Decision notes\n\n"
        f"Written by `qomsim decide` on {date} (seed {matrix.seed}); every verdict in them comes from the "
        "run that wrote them. Each failing cell links to a page in `evidence/` with its counterexample: the "
        "program, the schedule, the trace step by step, a sequence diagram and the `qomsim replay` command "
        "that re-runs the saved file.\n\n"
        + _table(["note", "question", "status", "chosen option"], rows)
        + "\n"
    )


def render_all(
    matrix: Matrix,
    *,
    date: str,
    template: str,
    out_display: str,
    diffs: Mapping[str, Sequence[str]],
    summaries: Mapping[str, str] | None = None,
    property_texts: Mapping[str, str] | None = None,
    qmp_visible: Mapping[str, Sequence[str]] | None = None,
    questions: Sequence[Question] = QUESTIONS,
) -> dict[str, str]:
    """Render every note and every counterexample of a run.

    :param matrix: the run's results.
    :param date: the notes' date (``YYYY-MM-DD``).
    :param template: a MADR template (see :func:`load_template`).
    :param out_display: the notes directory as commands in the notes should name it (relative, no
        absolute path, so the output does not depend on where it was written).
    :param diffs: the knobs in which each design differs from :data:`BASELINE`.
    :param summaries: one-line summaries of the designs (what each does).
    :param property_texts: what each property says, one line each.
    :param qmp_visible: per design, what a QMP client sees change (see :func:`render_note`).
    :param questions: the questions to answer.
    :return: ``relative path -> text`` for every file, in a fixed order.
    """
    files: dict[str, str] = {}
    for q in questions:
        note = render_note(
            q,
            matrix,
            date=date,
            template=template,
            out_display=out_display,
            diffs=diffs,
            summaries=summaries,
            property_texts=property_texts,
            qmp_visible=qmp_visible,
        )
        if note is not None:
            files[q.filename] = note
    index = render_index(matrix, date=date, diffs=diffs, questions=questions)
    if index is not None:
        files["README.md"] = index
    for d in matrix.designs:
        for p in matrix.properties:
            c = matrix.cell(d, p)
            if c is None or c.counterexample is None:
                continue
            name = evidence_name(d, p)
            files[f"evidence/{name}.json"] = (
                json.dumps(c.counterexample.to_json(), indent=2, sort_keys=True) + "\n"
            )
            files[f"evidence/{name}.md"] = render_evidence(
                c.counterexample, c, f"{out_display}/evidence/{name}.json"
            )
    return files
