"""``qomsim decide --qemu BINARY``: each failing cell of the preset that follows the binary's release,
driven against the binary (:mod:`migration.reproduce`).

For a failing cell, the cell's own counterexample is driven first; when that does not confirm it, the
witness of every other scenario whose fault breaks the same property is, in the spec's order, until one
is confirmed.  What each gave goes into the notes: the context names the binaries and their versions, and
"More Information" has one line per cell with the command that reproduces it.  A witness that is not the
cell's own is saved next to the evidence (``evidence/DESIGN--PROPERTY--SCENARIO.json``) so that the
command names a file.  Without ``--qemu`` nothing here runs and the notes are unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from migration.model.results import Counterexample
from migration.report.evidence import evidence_link
from migration.reproduce.predictions import predictions, preset_for
from migration.reproduce.run import Result, Status, binary_version, reproduce
from migration.reproduce.table import cell_text

__all__ = ["RealQemu", "check_binaries"]

#: better results first: the one a cell reports when several witnesses were driven
_RANK = (Status.CONFIRMED, Status.OTHER_ERROR, Status.NOT_REPRODUCED, Status.CLEAN, Status.NOT_DRIVABLE)


@dataclass
class RealQemu:
    """What the binaries said about the notes' failing cells.

    :ivar context: a paragraph for each note's context: the binaries and their versions.
    :ivar cells: ``(design, property)`` -> one line per binary.
    :ivar files: more evidence files (the witnesses the commands name).
    """

    context: str = ""
    cells: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """:return: the "More Information" lines, one per cell and binary."""
        return [f"* `{d}` `{p}`: {line}" for (d, p), lines in self.cells.items() for line in lines]


def _witness_file(design: str, prop: str, scenario: str) -> str:
    return f"evidence/{design}--{prop}--{re.sub(r'[^A-Za-z0-9.-]', '-', scenario)}.json"


def check_binaries(failing: Callable[[str], Sequence[tuple[str, Counterexample]]], binaries: Sequence[str],
                   out_display: str, *, attempts: int = 3) -> RealQemu:
    """Drive each binary's preset's failing cells.

    :param failing: for a design, its failing cells as ``(property, counterexample)`` in the matrix's order
        (empty for a design the run did not check).
    :param binaries: the QEMU executables.
    :param out_display: the notes directory as commands should name it.
    :param attempts: runs per witness.
    :return: what they said.
    :raise ValueError: when a binary does not say its version (one line).
    :raise OSError: when one cannot be run.
    """
    real = RealQemu()
    said: list[str] = []
    for binary in binaries:
        v = binary_version(binary)
        version = ".".join(map(str, v))
        preset = preset_for(v)
        cells = failing(preset) if preset is not None else ()
        said.append(f"`{binary}` is QEMU {version}" + (
            f", followed by `{preset}`" if preset and cells else
            f", followed by `{preset}`, which this run did not find failing" if preset else
            ", which no preset follows"))
        witnesses = predictions(preset) if cells and preset is not None else []
        for prop, cx in cells:
            tried: list[tuple[str, Result]] = []
            own = f"{out_display}/{evidence_link(cx.design, prop, 'json')}"
            candidates = [(own, cx)] + [
                (f"{out_display}/{_witness_file(cx.design, prop, w.name)}", w.counterexample)
                for w in witnesses
                if prop in w.properties and w.counterexample is not None and w.name != cx.scenario]
            for path, c in candidates:
                r = reproduce(c, binary, attempts=attempts, version=v)
                tried.append((path, r))
                if path != own and r.status is not Status.NOT_DRIVABLE:
                    real.files[path.removeprefix(f"{out_display}/")] = json.dumps(
                        c.to_json(), indent=2, sort_keys=True) + "\n"
                if r.status is Status.CONFIRMED:
                    break
            path, best = min(tried, key=lambda t: _RANK.index(t[1].status))
            command = f"`qomsim reproduce {path} --qemu {binary} --attempts {attempts}`"
            scenario = next(c.scenario for p, c in candidates if p == path)
            verdict = "confirms it" if best.status is Status.CONFIRMED else "does not confirm it"
            line = (f"QEMU {version} {verdict} ({scenario}: {cell_text(best)}; {command})")
            if best.status is not Status.CONFIRMED:
                line += f"; {len(tried)} witnesses driven"
            real.cells.setdefault((cx.design, prop), []).append(line)
    real.context = ("The real binaries this run drove the failing cells against (`qomsim decide --qemu`): "
                    + "; ".join(said) + ".")
    return real
