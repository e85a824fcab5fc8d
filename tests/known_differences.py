"""Every difference between a real QEMU and qomsim that the differential tests allow, as data.

``docs/known-differences.md`` has the same list as a table, one column per QEMU version
("Per version"); ``tests/test_known_differences.py`` checks that the two agree, and the differential
tests (``tests/test_qmp_qemu.py``, ``tests/test_capture_differential.py``) check that the real QEMUs
answer exactly as listed here: a difference that is not listed fails them, and so does a listed one
that went away.

:data:`SAME_AS_QOMSIM` in a version's entry means that QEMU answers as qomsim does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qemu_helpers import QEMU_VERSIONS

__all__ = ["DIFFERENCES", "SAME_AS_QOMSIM", "Difference", "agrees", "qemu_side", "request_differences"]

#: "this QEMU answers as qomsim does"
SAME_AS_QOMSIM = None


@dataclass(frozen=True)
class Difference:
    """One listed difference.

    :param key: its id in the table of ``docs/known-differences.md``.
    :param qemu: each version's side (an answer, or a value the test derives), or :data:`SAME_AS_QOMSIM`.
    :param qomsim: qomsim's side.
    :param request: for a single request: ``(command, arguments)``; None for a sweep-wide difference.
    """

    key: str
    qemu: Mapping[str, Any]
    qomsim: Any
    request: tuple[str, dict[str, Any] | None] | None = None


def _error(desc: str, error_class: str = "GenericError") -> dict[str, Any]:
    return {"error": {"class": error_class, "desc": desc}}


DIFFERENCES: dict[str, Difference] = {d.key: d for d in [
    # -- single requests, against qomsim's built-in -machine none (QEMU master) -------------------
    Difference(
        "qom-list-get",
        {"7.2.22": _error("The command qom-list-get has not been found", "CommandNotFound"),
         "10.0.2": _error("The command qom-list-get has not been found", "CommandNotFound")},
        {"return": [{"properties": [{"name": "type", "type": "string", "value": "container"}]}]},
        ("qom-list-get", {"paths": ["/machine/peripheral"]}),
    ),
    Difference(
        "device_add-driver-not-a-string",
        {"7.2.22": _error("'1' is not a valid device model name"), "10.0.2": SAME_AS_QOMSIM},
        _error("Parameter 'driver' is missing"),
        ("device_add", {"driver": 1}),
    ),
    Difference(
        "query-version",
        {"7.2.22": {"qemu": {"micro": 22, "minor": 2, "major": 7}},
         "10.0.2": {"qemu": {"micro": 2, "minor": 0, "major": 10}}},
        {"return": {"qemu": {"micro": 50, "minor": 2, "major": 10}, "package": "qomsim"}},
        ("query-version", None),
    ),
    # -- whole sweeps, against qomsim serving the packaged snapshot of the same version -----------
    Difference(
        "eager-root-containers",  # the root's children qomsim has and that QEMU's initial root lacks
        {"7.2.22": frozenset({"audiodevs", "backend", "objects"}), "10.0.2": frozenset({"audiodevs"})},
        frozenset({"audiodevs", "backend", "chardevs", "objects"}),
    ),
    Difference(
        "qom-list-properties-default-value",  # QEMU leaves default-value out of qom-list-properties
        {"7.2.22": "no default-value", "10.0.2": SAME_AS_QOMSIM},
        "default-value",
    ),
    Difference(
        "introspection-crashes",  # qom-list-properties of these types kills QEMU; qomsim answers
        {"7.2.22": frozenset({"colo-compare", "microvm-machine", "qio-net-listener", "x-remote-object"}),
         "10.0.2": frozenset({"colo-compare", "memory-region-portio-list", "qemu-text-console",
                              "x-remote-object"})},
        "answers",
    ),
]}


def qemu_side(key: str, version: str) -> Any:
    """:param key: a difference's id.
    :param version: one of :data:`~qemu_helpers.QEMU_VERSIONS`.
    :return: what that QEMU gives (:data:`SAME_AS_QOMSIM`: what qomsim gives)."""
    assert version in QEMU_VERSIONS
    return DIFFERENCES[key].qemu[version]


def agrees(key: str, version: str) -> bool:
    """:param key: a difference's id.
    :param version: one of :data:`~qemu_helpers.QEMU_VERSIONS`.
    :return: whether that QEMU answers as qomsim does there."""
    return qemu_side(key, version) is SAME_AS_QOMSIM


def request_differences() -> list[Difference]:
    """:return: the differences that are single requests."""
    return [d for d in DIFFERENCES.values() if d.request is not None]
