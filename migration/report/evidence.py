"""Evidence pages: one counterexample as a program, a schedule, a numbered trace and a Mermaid diagram."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migration.check.bounded import Bound
from migration.check.cell import resolve_design
from migration.model.designs import TAGS
from migration.model.outcomes import Fault, TraceStep
from migration.model.results import CellResult, Counterexample
from migration.report.markdown import code, number, table

__all__ = ["evidence_link", "evidence_name", "render_evidence"]


def evidence_name(design: str, prop: str) -> str:
    """:return: the base name (no extension) of a failing cell's evidence files (a design named by
        ``FILE.py:NAME`` or ``module:NAME`` gets a name without path separators or colons)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", design)
    return f"{safe}--{prop}"


def evidence_link(design: str, prop: str, ext: str = "md") -> str:
    """The one place a failing cell's evidence file is named, for the file a run writes and for every link
    to it.

    :param design: the design as the run named it (a preset id, ``FILE.py:NAME`` or ``module:NAME``; not
        the name the design object carries).
    :param prop: the property id.
    :param ext: ``md`` (the page) or ``json`` (the saved counterexample).
    :return: its path relative to the notes directory.
    """
    return f"evidence/{evidence_name(design, prop)}.{ext}"


def _program_lines(program: Any) -> list[str]:
    if not isinstance(program, list):
        return [code(json.dumps(program, sort_keys=True))]
    lines = []
    for i, step in enumerate(program, 1):
        if isinstance(step, dict) and isinstance(step.get("event"), str):
            rest = {k: v for k, v in sorted(step.items()) if k != "event"}
            text = step["event"] + ("" if not rest else " " + json.dumps(rest, sort_keys=True))
        else:
            text = step if isinstance(step, str) else json.dumps(step, sort_keys=True)
        lines.append(f"{i}. {code(text)}")
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


def _tag_of(design: str) -> str:
    """:return: the git tag the design follows (``v10.0.0``...), or a note when it is unknown."""
    try:
        return TAGS[resolve_design(design).tag]
    except KeyError:
        return "the design's tag (unknown design)"


def render_evidence(cx: Counterexample, cell: CellResult, replay_path: str) -> str:
    """Render one counterexample: program, schedule, numbered trace, Mermaid diagram, replay command.

    :param cx: the counterexample of a failing cell.
    :param cell: the cell it belongs to (for its evidence kind and counts).
    :param replay_path: the path of its saved JSON as the ``qomsim replay`` command should name it.
    :return: Markdown text.
    """
    f = cx.fault
    fault_text = f"{f.outcome.name} at step {f.step}: {f.detail}" if f.detail else f"{f.outcome.name}"
    spec = cell.spec()
    if cell.evidence == "exhaustive":
        how = f"found by enumerating every schedule of the scenarios ({number(cell.schedules_explored)})"
    elif cell.evidence == "bounded" and spec is not None:
        how = (f"found by exploring {Bound.parse(spec).every()} (bound `{spec}`: {number(cell.programs)} "
               f"programs, {number(cell.states)} states)")
    else:
        how = f"found by Hypothesis ({number(cell.examples_sampled)} examples drawn), then shrunk"
    if cx.scenario:
        scenario = code(cx.scenario)
    elif cell.evidence == "bounded":
        scenario = "none: a program of the bound, not one of the scenarios"
    else:
        scenario = "none: a program drawn by Hypothesis and shrunk"
    tag = _tag_of(cx.design)
    out = [
        f"# {code(cx.design)} fails {code(cx.property)}",
        "",
        f"* Outcome: **{f.outcome.name}** at step {f.step}, actor {code(f.actor)}, object {code(f.obj)}"
        + (f": {f.detail}" if f.detail else ""),
        f"* Evidence: {how}",
        f"* Scenario: {scenario}",
        f"* QEMU source: each step names the function it stands for, at {tag}",
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
        code(json.dumps(list(cx.schedule)))
        + ": the scheduler's choice at each step, an index into the actors that can run; past the end of "
        "the list (and for an empty list) the oldest runnable actor runs.",
        "",
        "## Trace",
        "",
        table(
            ["#", "actor", "step", "QEMU function", "object", "refcount", "note"],
            [
                [
                    str(st.index),
                    st.actor,
                    st.action,
                    code(st.function) if st.function else "",
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
