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
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from migration.check.bounded import COVERING_BOUND, Bound, events_text, scenarios_outside
from migration.model.program import program_to_json
from migration.model.results import CellResult, ScenarioOutcomes
from migration.model.scenarios import SCENARIOS
from migration.report.choose import (
    BASELINE,
    CHOICE_RULE,
    NOT_REACHED,
    QUESTIONS,
    Choice,
    Matrix,
    Question,
    Rank,
    choose,
)
from migration.report.evidence import evidence_link, evidence_name, render_evidence
from migration.report.markdown import bullets, code, number, table
from migration.report.scenario_notes import explain

if TYPE_CHECKING:
    from migration.report.real_qemu import RealQemu

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
    "evidence_link",
    "evidence_name",
    "load_template",
    "render_all",
    "render_evidence",
    "render_index",
    "render_note",
]

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



def _bound_coverage(bound: Bound, wider: bool = False) -> str:
    """:param bound: the bound.
    :param wider: the chosen options were explored again at a bound that takes in more (said elsewhere).
    :return: which §4 scenarios the bounded exploration at that bound takes in, and which it leaves to their
        own enumeration."""
    outside = scenarios_outside(bound)
    if not outside:
        return f"all {len(SCENARIOS)} scenarios of §4 lie inside that bound"
    names = ", ".join(f"`{sid}` ({events_text(k)}, {a} background)" if not bound.plain else
                      f"`{sid}` ({events_text(k)})" for sid, (k, a) in outside.items())
    return (f"{len(SCENARIOS) - len(outside)} of the {len(SCENARIOS)} scenarios of §4 lie inside that bound; "
            f"{names} lie outside it and are enumerated on their own, every schedule"
            + ("" if wider else f" (`--bound covering`, {COVERING_BOUND}, takes in all of them, at far "
               "greater cost)"))


def _confirmed_text(matrix: Matrix) -> str:
    """:return: what the run explored again at ``--confirm``'s bound, for the notes' footer (or ``""``)."""
    if matrix.confirm_spec is None or not matrix.confirmed:
        return ""
    wide = Bound.parse(matrix.confirm_spec)
    names = ", ".join(code(d) for d in matrix.confirmed)
    one = len(matrix.confirmed) == 1
    return (f" The chosen option{'' if one else 's'} ({names}) {'was' if one else 'were'} explored again "
            f"at `{matrix.confirm_spec}` (`--confirm`), {wide.every()}, every property from that one "
            f"exploration ({_bound_coverage(wide)}); {'its row holds' if one else 'their rows hold'} those "
            "results, the other rows those at the run's bound, which can only gain faults at a larger one, "
            "so none of them could rank above a chosen option there.")


def _wider(matrix: Matrix) -> bool:
    """:return: whether the run explored the chosen options again at a bound with every §4 scenario
        inside."""
    return bool(matrix.confirmed) and matrix.confirm_spec is not None and not scenarios_outside(
        Bound.parse(matrix.confirm_spec))

def _evidence_label(c: CellResult) -> str:
    """The evidence a verdict rests on, in a few words (the bound's counts are said once per row)."""
    spec = c.spec()
    if c.verdict == "holds":
        if c.evidence == "sampled":
            return "on sampled evidence only"
        return f"bound `{spec}`" if c.evidence == "bounded" and spec is not None else "every schedule"
    if c.counterexample is not None and c.counterexample.scenario and c.evidence == "exhaustive":
        return f"in `{c.counterexample.scenario}`"
    if c.evidence == "bounded":
        return f"a program of bound `{spec}`"
    return "a program Hypothesis drew"


def _row_bound(matrix: Matrix, d: str) -> tuple[str, int, int] | None:
    """:return: the bound a row's verdicts rest on, with its programs and states, or ``None``."""
    for p in matrix.properties:
        c = matrix.cell(d, p)
        if c is not None and (spec := c.spec()) is not None:
            return spec, c.programs, c.states
    return None


def _matrix_bound(matrix: Matrix) -> Bound | None:
    """:return: the bound every cell of the matrix explored, or ``None``."""
    if matrix.bound is None:
        return None
    return Bound.parse(matrix.bound_spec or str(matrix.bound))


def _cell_text(c: CellResult | None, ref: str | None) -> str:
    """A matrix cell: ``holds``, or the fault with a reference link to its trace."""
    if c is None:
        return NOT_REACHED
    if c.verdict == "holds":
        return "holds" if c.evidence != "sampled" else "holds, sampled"
    return c.outcome.name if ref is None else f"[{c.outcome.name}][{ref}]"


#: the most property columns one evidence table has (more go to a further table, so rows stay short)
MATRIX_COLUMNS = 5


def _matrix_table(matrix: Matrix, options: Sequence[str], groups: Sequence[Sequence[str]],
                  numbered: Sequence[str]) -> str:
    """The evidence tables: options as rows, properties as numbered columns (at most
    :data:`MATRIX_COLUMNS` a table), trace links as references below, the bounds and counts once."""
    refs: list[str] = []
    bounds = {d: rb for d in options if (rb := _row_bound(matrix, d)) is not None}
    usual = _matrix_bound(matrix)
    tables = []
    for group in groups:
        for i in range(0, len(group), MATRIX_COLUMNS):
            props = group[i:i + MATRIX_COLUMNS]
            rows = []
            for d in options:
                cells = []
                for p in props:
                    c = matrix.cell(d, p)
                    ref = None
                    if c is not None and c.verdict == "fails" and c.counterexample is not None:
                        refs.append(f"[{len(refs) + 1}]: {evidence_link(d, p)}")
                        ref = str(len(refs))
                    cells.append(_cell_text(c, ref))
                own = d in bounds and (usual is None or bounds[d][0] != str(usual))
                rows.append([code(d) + (f" (`{bounds[d][0]}`)" if own else ""), *cells])
            tables.append(table(["option", *(f"P{numbered.index(p) + 1}" for p in props)], rows))
    out = "\n\n".join(tables)
    said = []
    for spec in dict.fromkeys(rb[0] for rb in bounds.values()):
        which = [d for d in options if d in bounds and bounds[d][0] == spec]
        rows_of = ("every row" if len(which) == len(options) else
                   f"the row{'' if len(which) == 1 else 's'} of " + ", ".join(map(code, which)))
        n = next(bounds[d][1] for d in which)
        said.append(f"Bound `{spec}` ({rows_of}): {Bound.parse(spec).every()}, {number(n)} programs.")
    if said:
        states = ", ".join(f"{code(d)} {number(rb[2])}" for d, rb in bounds.items())
        out += "\n\n" + " ".join(said) + f" The distinct states each option's exploration stored: {states}."
    if refs:
        out += "\n\n" + "\n".join(refs)
    return out


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
    if matrix.exhaustive:
        flags += " --bound -1" if matrix.bound is None else f" --bound {_matrix_bound(matrix)}"
        if matrix.bound is not None:
            flags += f" --confirm {matrix.confirm_spec or 'none'}"
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
    withdrawn: Mapping[str, str] | None = None,
    real_qemu: RealQemu | None = None,
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
    :param real_qemu: what real binaries said of the failing cells (``decide --qemu``; ``None``: not asked).
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
        n = f"P{props.index(p) + 1} {code(p)}"
        return f"{n}: {texts[p]}" if p in texts else n

    drivers = "This question's own properties, weighed first:\n\n" + bullets([said(p) for p in own])
    if others:
        drivers += (
            "\n\nEvery other property checked, weighed next (a design must be safe as a whole):\n\n"
            + bullets([said(p) for p in others])
        )
    considered = bullets([f"{code(d)}: {_summary(d, summaries)}" for d in options]
                         + [f"{code(d)} (withdrawn): {why}" for d, why in (withdrawn or {}).items()])

    matrix_table = _matrix_table(matrix, options, [own, others], props)
    if choice.chosen is None:
        outcome = (
            "No option chosen: the run did not reach every cell of any option, and a verdict is never "
            "guessed. Re-run with a larger `--budget`."
        )
        consequences = bullets(["Neutral, because nothing is decided yet."])
    else:
        d = choice.chosen
        rank = dict(choice.ranking)[d]
        held = [p for p in props if (c := matrix.cell(d, p)) is not None and c.verdict == "holds"]
        failed = [p for p in props if (c := matrix.cell(d, p)) is not None and c.verdict == "fails"]
        exh = sum(1 for p in held if (c := matrix.cell(d, p)) is not None and c.evidence != "sampled")
        cost = "an unknown number of" if rank.cost is None else str(rank.cost)
        if not failed:
            because = (
                f"it holds every one of the {len(props)} properties checked ({exh} on exhaustive evidence, "
                f"{len(held) - exh} sampled) and, of the options that do, it ranks first by the rule below "
                f"({cost} mechanism changes from `{BASELINE}`)"
            )
        else:
            fail_list = ", ".join(f"{code(p)} ({_outcome_of(matrix, d, p)})" for p in failed)
            because = (
                f"no option holds every property checked, and it ranks first by the rule below: it fails "
                f"{rank.driver_fails} of this question's {len(own)} drivers and {len(failed)} of the "
                f"{len(props)} properties in all ({fail_list})"
            )
        outcome = f'Chosen option: "{d}", because {because}.'
        if matrix.confirm_interrupted:
            outcome += (f" **Not confirmed**: the run was interrupted while it explored the chosen options "
                        f"again at `{matrix.confirm_spec}` (`--confirm`), so every row rests on "
                        f"`{_matrix_bound(matrix)}`; re-run the command under Confirmation to confirm it.")
        elif d in matrix.confirmed and matrix.confirm_spec is not None:
            larger = Bound.parse(matrix.confirm_spec)
            outcome += (f" Its row rests on the larger bound `{larger}`, {larger.every()}; the others on "
                        f"`{_matrix_bound(matrix)}` (see the end of this note).")
        cons: list[str] = []
        cons.extend(f"Good, because {code(p)} holds ({_evidence_label(_must(matrix, d, p))})" for p in held)
        cons.extend(_bad_line(matrix, d, p) for p in failed)
        if d in diffs:
            cons.append(_cost_line(d, diffs[d], visible))
        consequences = bullets(cons)
    outcome += (
        "\n\nThe evidence, cell by cell (every verdict below comes from the run that wrote it). "
        + ("Column P1 is the property" if len(props) == 1 else f"Columns P1 to P{len(props)} are the "
           "properties")
        + " numbered under Decision Drivers; a cell says "
        "`holds`, or names the fault of its counterexample and links to its trace; `holds, sampled` rests on "
        "Hypothesis's examples only:\n\n"
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
        if matrix.bound is None:
            picks += " --bound -1"
        else:
            wide = choice.chosen in matrix.confirmed and matrix.confirm_spec is not None
            picks += f" --bound {matrix.confirm_spec if wide else _matrix_bound(matrix)}"
        confirmation += (
            "\n\nThe chosen option alone, with the same evidence (`qomsim check` exits 0 only when every "
            f"property holds):\n\n```sh\nqomsim check --design {choice.chosen} --seed {matrix.seed}{picks}"
            "\n```"
        )

    pros: list[str] = []
    for d in options:
        pros.append(f"### {code(d)}\n\nMechanism: {_summary(d, summaries)}.\n")
        if (rb := _row_bound(matrix, d)) is not None:
            pros.append(f"Evidence: {Bound.parse(rb[0]).every()} (bound `{rb[0]}`): {number(rb[1])} "
                        f"programs, {number(rb[2])} states.\n")
        lines: list[str] = []
        for p in props:
            c = matrix.cell(d, p)
            if c is None:
                lines.append(f"Neutral, because {code(p)} was {NOT_REACHED} in this run")
            elif c.verdict == "holds":
                lines.append(f"Good, because {code(p)} holds ({_evidence_label(c)})")
            else:
                lines.append(_bad_line(matrix, d, p))
        if d in diffs:
            lines.append(_cost_line(d, diffs[d], visible))
        pros.append(bullets(lines) + "\n")
    pros_and_cons = "\n".join(pros).rstrip("\n")

    more = [
        f"How the option was chosen. {CHOICE_RULE}",
        "",
        table(
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
                    code(d),
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
    more.extend([_scenarios_section(matrix, options, withdrawn), ""])
    more.append(
        f"Written by `qomsim decide` (seed {matrix.seed}, "
        f"{'exhaustive confirmation' if matrix.exhaustive else 'sampling only'}"
        + ("" if (mb := _matrix_bound(matrix)) is None else f", {mb.every()}: a verdict marked so holds "
           f"for all of them; {_bound_coverage(mb, _wider(matrix))}")
        + ")." + _confirmed_text(matrix) + " The designs, scenarios "
        "and properties are those of `migration/model/designs.py`, `migration/model/scenarios.py` and "
        "`migration/check/properties.py`"
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
    context = question.context
    if real_qemu is not None:
        context += "\n\n" + real_qemu.context
        mine = [line for line in real_qemu.lines() if any(f"* `{d}` " in line for d in options)]
        if mine:
            more += ["", "Real QEMU, each failing cell of the preset that follows a binary's release, driven "
                     "under valgrind (`qomsim decide --qemu`):", "", *mine]
    fields = {
        "status": choice.status,
        "date": date,
        "title": question.title,
        "seed": str(matrix.seed),
        "context": context,
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
        f"{', '.join(code(k) for k in knobs)}{seen}"
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
        scen = f" in {code(cx.scenario)}" if cx.scenario else ""
        where = f"{scen}, see [the trace]({evidence_link(d, p)})"
    return f"Bad, because {code(p)} fails with {c.outcome.name}{where}"


def _outcomes_text(o: ScenarioOutcomes | None) -> str:
    """How a scenario's schedules end, each outcome with its count: a schedule whose only fault is the leak
    at exit (``LEAK`` comes last, so it is a schedule's first fault only when nothing else went wrong) is
    counted as ``OK`` that leaks, so the leak hides nothing else that happens."""
    if o is None:
        return NOT_REACHED
    counts = dict(o.counts)
    leaks = counts.pop("LEAK", 0)
    if leaks:
        counts["OK"] = counts.get("OK", 0) + leaks
    parts = []
    for name, k in sorted(counts.items(), key=lambda item: (item[0] != "OK", item[0])):
        text = f"{name} {number(k)}"
        if name == "OK" and leaks:
            text += " (all leak at exit)" if leaks == k else f" ({number(leaks)} of them leak at exit)"
        parts.append(text)
    return ", ".join(parts) + ("" if o.complete else " (not every schedule: the run budget ran out)")


def _cited(matrix: Matrix, options: Sequence[str], withdrawn: Mapping[str, str] | None) -> list[str]:
    """:return: every scenario the note names, in the model's order."""
    named = set(matrix.scenarios)
    for d in options:
        for p in matrix.properties:
            c = matrix.cell(d, p)
            if c is not None and c.counterexample is not None and c.counterexample.scenario:
                named.add(c.counterexample.scenario)
    named.update(sid for why in (withdrawn or {}).values() for sid in SCENARIOS if f"`{sid}`" in why)
    return [sid for sid in SCENARIOS if sid in named]


def _program_text(sid: str) -> str:
    steps = []
    for step in program_to_json(SCENARIOS[sid]):
        rest = " ".join(f"{k}={v}" for k, v in sorted(step.items()) if k != "event")
        steps.append(code(str(step["label"]) if "label" in step else f"{step['event']} {rest}".strip()))
    return ", ".join(steps)


def _scenarios_section(matrix: Matrix, options: Sequence[str], withdrawn: Mapping[str, str] | None) -> str:
    """The "Scenarios" section: what every scenario the note cites stands for, its program, and how its
    schedules end under each option."""
    out = [
        "### Scenarios",
        "",
        "Each scenario is a fixed program of events on the main thread; the other threads it starts (the "
        "migration thread, bottom halves, the incoming coroutine, the monitor's I/O thread) interleave with "
        "it in every order the scheduler allows, and each such schedule is run. The tables count the "
        "schedules by the first fault each hit. `LEAK` is found only when `qemu_cleanup()` ends, so a "
        "schedule whose only fault is the leak is counted under `OK` and said to leak.",
    ]
    for sid in _cited(matrix, options, withdrawn):
        out.extend(["", f"#### {code(sid)}", "", explain(sid), "", f"Program: {_program_text(sid)}."])
        if sid in matrix.scenarios:
            rows = [[code(d), *_schedules(matrix.scenario_outcomes.get((d, sid)))] for d in options]
            out.extend(["", table(["option", "schedules", "how they end"], rows)])
    return "\n".join(out)


def _schedules(o: ScenarioOutcomes | None) -> list[str]:
    return ["-" if o is None else number(o.schedules), _outcomes_text(o)]


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
            "none" if c.chosen is None else code(c.chosen),
        ]
        for q, c in decisions(matrix, diffs, questions)
    ]
    if not rows:
        return None
    return (
        "# Decision notes\n\n"
        f"Written by `qomsim decide` on {date} (seed {matrix.seed}); every verdict in them comes from the "
        "run that wrote them."
        + (f" **Not confirmed**: the run was interrupted while it explored the chosen options again at "
           f"`{matrix.confirm_spec}`; every verdict rests on `{_matrix_bound(matrix)}`."
           if matrix.confirm_interrupted else "")
        + " Each failing cell links to a page in `evidence/` with its counterexample: the "
        "program, the schedule, the trace step by step, a sequence diagram and the `qomsim replay` command "
        "that re-runs the saved file.\n\n"
        + table(["note", "question", "status", "chosen option"], rows)
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
    withdrawn: Mapping[str, str] | None = None,
    real_qemu: RealQemu | None = None,
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
    :param withdrawn: the model's earlier proposals it no longer proves, with why (listed among the
        considered options of the lifetime question).
    :param real_qemu: what real binaries said of the failing cells (``decide --qemu``), and the witness
        files its commands name.
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
            withdrawn=withdrawn if q.number == 1 else None,
            real_qemu=real_qemu,
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
            saved = evidence_link(d, p, "json")
            files[saved] = json.dumps(c.counterexample.to_json(), indent=2, sort_keys=True) + "\n"
            files[evidence_link(d, p)] = render_evidence(c.counterexample, c, f"{out_display}/{saved}")
    if real_qemu is not None:
        files.update(real_qemu.files)
    return files
