"""``qomsim replay FILE``: re-run a saved counterexample and print its trace step by step.

``FILE`` is a counterexample saved by :func:`migration.check.save_counterexample`, or the
JSON written by ``qomsim check --json`` (``--property`` picks the cell; default: the
first failing one).  The exit status says whether the replay reproduced the saved fault.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from migration.check.cell import Counterexample, replay
from migration.check.properties import violation
from migration.model.outcomes import Fault

__all__ = ["HELP", "add_arguments", "load", "reproduced", "run"]

#: the line ``qomsim --help`` shows
HELP = "re-run a saved counterexample and print its trace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the ``replay`` subcommand's parser."""
    parser.add_argument("file", help="a counterexample JSON file")
    parser.add_argument("--property", help="with a 'qomsim check --json' file: the cell to replay")


def load(path: str, property_id: str | None = None) -> Counterexample:
    """:param path: the file.
    :param property_id: for a ``check --json`` file, which cell.
    :return: the counterexample.
    :raise ValueError: when the file holds no (matching) counterexample.
    :raise OSError: when it cannot be read.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if "cells" in data:
        for cell in data["cells"]:
            cx = cell.get("counterexample")
            if cx is not None and (property_id is None or cell["property"] == property_id):
                return Counterexample.from_json(cx)
        raise ValueError(f"{path}: no counterexample" + (f" for {property_id}" if property_id else ""))
    return Counterexample.from_json(data)


def reproduced(saved: Fault, got: Fault | None) -> bool:
    """:param saved: the saved fault.
    :param got: the replay's fault for the same property.
    :return: whether they are the same fault (outcome, step, actor, object, detail).
    """
    return got is not None and (got.outcome, got.step, got.actor, got.obj, got.detail) == (
        saved.outcome, saved.step, saved.actor, saved.obj, saved.detail)


def run(args: argparse.Namespace) -> int:
    """Run ``qomsim replay``.

    :param args: the parsed arguments.
    :return: 0 if the replay reproduced the fault, 1 if not, 2 if the file is unusable.
    """
    try:
        cx = load(args.file, args.property)
    except (OSError, ValueError, KeyError) as exc:
        print(f"qomsim replay: {exc}", file=sys.stderr)
        return 2
    print(f"design {cx.design}, property {cx.property}, scenario {cx.scenario or '(sampled program)'}")
    print("program: " + "; ".join(e["event"] + "(" + ", ".join(f"{k}={v!r}" for k, v in e.items()
                                                             if k != "event") + ")" for e in cx.program))
    print(f"schedule: {cx.schedule}")
    r = replay(cx)
    for step in r.trace:
        print(str(step))
    got = violation(cx.property, r)
    print(f"saved fault:    {cx.fault}")
    print(f"replayed fault: {got if got is not None else 'none'}")
    same = reproduced(cx.fault, got)
    print("reproduced: yes" if same else "reproduced: NO")
    return 0 if same else 1
