"""``python -m benchmarks.deep``: one design at a bound too large for ``python -m benchmarks`` (K = 3).

The bound is split into the tasks ``qomsim check`` and ``decide`` use (:func:`split_tasks
<migration.check.bounded.split_tasks>` at :func:`~migration.check.workers.split_depth`), run on
``--processes`` processes, largest first by their number of programs.  Each finished task is appended to a
log (JSON lines, one per task, with the last commit that changed the model), so a run that is stopped
resumes where it stopped; a log of another model is refused.  When every task is in, the tasks are merged
as ``check`` merges them (:func:`~migration.check.bounded.merge`) and a Markdown report is written: states
(summed over the tasks: each task has its own store), runs, paths, programs, CPU seconds, states per CPU
second, the largest task, each worker's peak resident memory, and what the bound finds (outcomes, violated
properties and their shortest programs) beside the same figures at the bound below, run the same way, so
the growth of one more event is read on equal terms.

With ``--decide``, it also runs ``qomsim decide`` twice in processes of their own, one after the other:
on its defaults (every row at K = 1, the option each note chooses confirmed at ``covering``), then with
every row at ``covering`` (``--bound covering --confirm none``), and reports both wall times and every
cell whose verdict or shortest program differs between the two.  Each result is kept in the log directory
(``decide-defaults.json``, ``decide-covering.json``) and used again while the model and the options are the
same, so that a report can be written again without half an hour of ``decide``.

Neither the report nor a log is overwritten unless this command wrote it (the report starts with its own
marker line; logs are only appended to).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from migration.check.bounded import (
    Bound,
    Bounded,
    Task,
    count_programs,
    free_events,
    grammar,
    merge,
    run_task,
    split_tasks,
)
from migration.check.registry import resolve
from migration.check.workers import split_depth
from migration.model.outcomes import Fault, Outcome
from migration.model.program import Program, program_from_json

__all__ = ["MARKER", "build_parser", "main"]

MARKER = "<!-- written by python -m benchmarks.deep -->"
#: far above any task of K = 3 on qemu-10.0 (the largest: about 1.5 million runs)
MAX_RUNS = 100_000_000


def _commit() -> str:
    """:return: the last commit that changed the model (``migration/`` or ``qom/``), ``+dirty`` when the
    work tree changes it too: what a task's result depends on, so a log stays valid across other commits."""
    here = str(Path(__file__).resolve().parent.parent)
    last = subprocess.run(["git", "-C", here, "log", "-1", "--format=%H", "--", "migration", "qom"],
                          capture_output=True, text=True, check=False).stdout.strip()[:12] or "unknown"
    dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--", "migration", "qom"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return last + ("+dirty" if dirty else "")


def _text(program: Program) -> str:
    return ", ".join(str(e) for e in program) or "(no event)"


def _one(args: tuple[str, str, int, list[int], list[int]]) -> dict[str, Any]:
    name, spec, index, prefix, then = args
    design, bound = resolve(name), Bound.parse(spec)
    cpu, wall = time.thread_time(), time.monotonic()
    part = run_task(Task(design, bound, tuple(prefix), max_runs=MAX_RUNS, then=tuple(then)))
    cpu, wall = time.thread_time() - cpu, time.monotonic() - wall
    data = part.to_json()
    data["faults"] = {p: {"outcome": f.outcome.value, "step": f.step, "actor": f.actor, "obj": f.obj,
                          "detail": f.detail} for p, (_prog, _s, f) in part.violations.items()}
    return {"task": index, "prefix": prefix, "then": then, "cpu_s": cpu, "wall_s": wall,
            "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "pid": os.getpid(),
            "bounded": data}


def _part(data: dict[str, Any]) -> Bounded:
    faults = data["faults"]
    violations = {p: (program_from_json(v["program"]), list(v["schedule"]),
                      Fault(Outcome(faults[p]["outcome"]), faults[p]["step"], faults[p]["actor"],
                            faults[p]["obj"], faults[p]["detail"]))
                  for p, v in data["violations"].items()}
    return Bounded(data["design"], data["bound"], programs=data["programs"], states=data["states"],
                   runs=data["runs"], paths=data["paths"], violations=violations,
                   outcomes=dict(data["outcomes"]), complete=data["complete"], spec=data["spec"],
                   violating=dict(data["violating"]))


def explore(name: str, spec: str, log: Path, processes: int, commit: str) -> list[dict[str, Any]]:
    """Run (or finish) one bound, task by task.

    :param name: the design.
    :param spec: the bound as written.
    :param log: the JSON-lines log (appended to; created when missing).
    :param processes: worker processes.
    :param commit: the model's commit (:func:`_commit`), stamped on every record.
    :return: every task's record, in task order.
    :raises SystemExit: the log holds records of another design, bound or model.
    """
    design, bound = resolve(name), Bound.parse(spec)
    tasks = split_tasks(bound, split_depth(bound), design.tag)
    done: dict[int, dict[str, Any]] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if (rec["design"], rec["spec"], rec["commit"]) != (name, spec, commit):
                raise SystemExit(f"benchmarks.deep: {log} holds {rec['design']} at {rec['spec']} from "
                                 f"{rec['commit']}, not {name} at {spec} from {commit}")
            done[rec["task"]] = rec
    g = grammar(design.tag)
    todo = [(name, spec, i, list(p), list(t)) for i, (p, t) in enumerate(tasks) if i not in done]
    todo.sort(key=lambda a: -count_programs(g, bound, tuple(a[3]), tuple(a[4])))
    print(f"{name} at {spec}: {len(tasks)} tasks, {len(done)} in {log}, {len(todo)} to run", file=sys.stderr)
    if todo:
        with get_context("spawn").Pool(processes) as pool, log.open("a") as out:
            for rec in pool.imap_unordered(_one, todo):
                rec.update(design=name, spec=spec, commit=commit)
                out.write(json.dumps(rec) + "\n")
                out.flush()
                done[rec["task"]] = rec
                b = rec["bounded"]
                print(f"{time.strftime('%H:%M:%S')} task {rec['task']} {rec['prefix']}+{rec['then']}: "
                      f"{b['states']:,} states, {rec['cpu_s']:.0f} s CPU ({len(done)}/{len(tasks)})",
                      file=sys.stderr, flush=True)
    return [done[i] for i in range(len(tasks))]


def _summary(name: str, spec: str, recs: list[dict[str, Any]]) -> tuple[Bounded, dict[str, Any]]:
    whole = merge(name, Bound.parse(spec), [_part(r["bounded"]) for r in recs])
    cpu = sum(r["cpu_s"] for r in recs)
    big = max(recs, key=lambda r: r["cpu_s"])
    return whole, {"cpu": cpu, "big": big, "rss": max(r["rss_kib"] for r in recs),
                   "rate": whole.states / cpu if cpu else 0.0, "tasks": len(recs)}


def report(name: str, runs: Sequence[tuple[str, list[dict[str, Any]]]], commit: str, processes: int) -> str:
    """:return: the Markdown report of one design at each bound of ``runs`` (smallest first)."""
    rows = [_summary(name, spec, recs) for spec, recs in runs]
    head = [MARKER, f"# `{name}` at K = {', '.join(s for s, _ in runs)}", "",
            "Generated by `python -m benchmarks.deep` (do not edit by hand; rerun it). Each bound is split "
            "into the tasks `qomsim check` uses, each task with its own state store, so states are summed "
            "over the tasks (a single process would store fewer); CPU is each task's thread time, summed.",
            "",
            f"The model at `{commit}` (the last commit that changed `migration/` or `qom/`), {processes} "
            f"processes, {os.cpu_count()} cores.", "",
            "| bound | tasks | programs | states | runs | paths | CPU | states per CPU s | largest task "
            "| peak RSS of a worker | complete |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (spec, _recs), (whole, s) in zip(runs, rows, strict=True):
        big = s["big"]
        head.append(f"| {spec} | {s['tasks']} | {whole.programs:,} | {whole.states:,} | {whole.runs:,} | "
                    f"{whole.paths:,} | {s['cpu']:,.0f} s | {s['rate']:,.0f} | task {big['task']} "
                    f"({big['prefix']}+{big['then']}): {big['bounded']['states']:,} states, "
                    f"{big['cpu_s']:,.0f} s | {s['rss'] / 1024:,.0f} MiB | {whole.complete} |")
    head += ["", "## What each bound finds", ""]
    for (spec, _recs), (whole, _s) in zip(runs, rows, strict=True):
        head.append(f"K = {spec}: outcomes " + ", ".join(f"{o} {k:,}" for o, k in whole.outcomes.items())
                    + "; violated: " + (", ".join(whole.violations) or "none") + ".")
        for p, (prog, sched, f) in whole.violations.items():
            head.append(f"- `{p}`: {_text(prog)} (schedule of {len(sched)} choices): {f}")
        head.append("")
    if len(rows) > 1:
        (lo, _a), (hi, _b) = rows[-2], rows[-1]
        same = (set(lo.outcomes) == set(hi.outcomes) and set(lo.violations) == set(hi.violations)
                and all(free_events(lo.violations[p][0]) == free_events(hi.violations[p][0])
                        for p in lo.violations))
        head.append(f"K = {runs[-1][0]} against K = {runs[-2][0]}: {hi.states / lo.states:.1f}x the states; "
                    + ("the same outcomes, violated properties and lengths of the shortest programs."
                       if same else "outcomes, violated properties or shortest programs differ (above)."))
        head.append("")
    return "\n".join(head).rstrip("\n") + "\n"


def run_decide(extra: Sequence[str], where: Path) -> tuple[float, dict[str, Any]]:
    """Run ``qomsim decide`` in a process of its own, its notes and matrix in a fresh directory.

    :param extra: options after the defaults.
    :param where: an empty directory for its output.
    :return: its wall time and its matrix (``--json``).
    :raises SystemExit: it failed.
    """
    out, matrix = where / "decisions", where / "matrix.json"
    cmd = [sys.executable, "-c", "import sys; from qom.cli import main; sys.exit(main())", "decide",
           "--out", str(out), "--json", str(matrix), "--no-database", "--date", "2026-01-01", *extra]
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=where)
    wall = time.monotonic() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        raise SystemExit(f"benchmarks.deep: qomsim {' '.join(cmd[3:])} exited with {done.returncode}: {last}")
    data: dict[str, Any] = json.loads(matrix.read_text())
    for entry in data["designs"].values():
        for cell in entry["properties"].values():
            if "counterexample" in cell:  # the saved counterexample, linked from the notes directory
                cell["program"] = json.loads((out / cell["counterexample"]).read_text())["program"]
    return wall, data


def decided(name: str, extra: list[str], log_dir: Path, commit: str) -> tuple[float, dict[str, Any]]:
    """:func:`run_decide`, or the result of that very run (same options, same model) from the log directory.

    :param name: the run's name in the log directory (``decide-NAME.json``).
    :param extra: options after the defaults.
    :param log_dir: where results are kept.
    :param commit: the model's commit (:func:`_commit`).
    :return: the wall time and the matrix, with ``ran`` (when it ran, UTC) in the matrix.
    """
    kept = log_dir / f"decide-{name}.json"
    if kept.exists():
        try:
            rec = json.loads(kept.read_text())
            mine = isinstance(rec, dict) and {"commit", "options", "wall_s", "matrix"} <= rec.keys()
        except ValueError:
            mine = False
        if not mine:
            raise SystemExit(f"benchmarks.deep: {kept} was not written by this command; not overwriting it")
        if (rec["commit"], rec["options"]) == (commit, extra):
            print(f"benchmarks.deep: decide ({name}) from {kept}", file=sys.stderr)
            return float(rec["wall_s"]), dict(rec["matrix"])
    with tempfile.TemporaryDirectory() as where:
        wall, matrix = run_decide(extra, Path(where))
    matrix["ran"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    print(f"benchmarks.deep: decide ({name}): {wall:.0f} s", file=sys.stderr)
    kept.write_text(json.dumps({"commit": commit, "options": extra, "wall_s": wall, "matrix": matrix}) + "\n")
    return wall, matrix


def _cells(matrix: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str | None, int | None]]:
    """:return: (design, property) -> (verdict, bound, events of the shortest program)."""
    out = {}
    for d, entry in matrix["designs"].items():
        for p, c in entry["properties"].items():
            out[(d, p)] = (c["verdict"], c["bound_spec"], len(c["program"]) if "program" in c else None)
    return out


def _verdict(cell: tuple[str, str | None, int | None]) -> str:
    verdict, bound, events = cell
    return f"{verdict} at {bound}" + ("" if events is None else f", a program of {events} events")


def decide_report(default: tuple[float, dict[str, Any]], covering: tuple[float, dict[str, Any]]) -> str:
    """:return: the Markdown section comparing ``decide`` on its defaults and with every row at covering."""
    (wd, md), (wc, mc) = default, covering
    a, b = _cells(md), _cells(mc)
    rows = [k for k in a if k in b and (a[k][0], a[k][2]) != (b[k][0], b[k][2])]
    at = sorted({c[1] or "none" for c in b.values()})
    lines = ["## `qomsim decide` with every row at `covering`", "",
             f"On its defaults (`qomsim decide`): **{wd:,.0f} s** wall. With every row at `covering` "
             f"(`qomsim decide --bound covering --confirm none`): **{wc:,.0f} s** wall; its cells rest on "
             f"{', '.join(at)}. Each in a process of its own on this machine, one at a time (UTC: "
             f"{md.get('ran', '?')} and {mc.get('ran', '?')}).",
             "",
             f"Cells: {len(a)} and {len(b)}; whose verdict or shortest program (events) differ: {len(rows)}."]
    if rows:
        lines += ["", "| design | property | defaults | every row at covering |", "|---|---|---|---|"]
        for d, p in rows:
            lines.append(f"| {d} | {p} | {_verdict(a[(d, p)])} | {_verdict(b[(d, p)])} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """:return: the command's argument parser."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.deep", description=__doc__.split("\n\n")[0])
    p.add_argument("--design", default="qemu-10.0")
    p.add_argument("--bounds", default="2,3", help="comma-separated bounds, smallest first (default: 2,3)")
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    p.add_argument("--log-dir", type=Path, required=True, help="where the per-bound JSON-lines logs live")
    p.add_argument("--out", type=Path, default=Path("docs/performance-deep.md"))
    p.add_argument("--decide", action="store_true",
                   help="also time qomsim decide on its defaults and with every row at covering")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """:return: 0 once the report is written."""
    args = build_parser().parse_args(argv)
    if args.out.exists() and not args.out.read_text().startswith(MARKER):
        print(f"benchmarks.deep: {args.out} was not written by this command; not overwriting it",
              file=sys.stderr)
        return 2
    commit = _commit()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for spec in args.bounds.split(","):
        log = args.log_dir / f"{args.design}-{spec}.jsonl"
        runs.append((spec, explore(args.design, spec, log, args.processes, commit)))
    text = report(args.design, runs, commit, args.processes)
    if args.decide:
        default = decided("defaults", [], args.log_dir, commit)
        covering = decided("covering", ["--bound", "covering", "--confirm", "none"], args.log_dir, commit)
        text += "\n" + decide_report(default, covering)
    args.out.write_text(text)
    print(f"benchmarks.deep: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
