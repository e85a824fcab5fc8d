"""QMP for the QOM core: the wire, the command table, HMP, and a socket server.

Layered above the core (:mod:`qom`) and below the tools that meet a real QEMU
(:mod:`qom.snapshot`) and the migration model (:mod:`migration`):

* :mod:`qom.qmp.json`: QEMU's JSON streamer and parser, with its limits and error texts;
* :mod:`qom.qmp.schema`: argument schemas, sessions and capabilities negotiation;
* :mod:`qom.qmp.commands`: the QOM commands (``qom-list``, ``object-add``, ``device_add`` ...);
* :mod:`qom.qmp.hmp`: the HMP commands behind ``human-monitor-command``;
* :mod:`qom.qmp.dispatch`: one dispatcher over one explicit table (:func:`execute`);
* :mod:`qom.qmp.server`: a real QMP socket (``qomsim serve``);
* :mod:`qom.qmp.examples`: example types to try the commands on.

    >>> from qom.qmp import execute
    >>> from qom.universe import Universe
    >>> execute("qom-get", {"path": "/machine", "property": "type"}, universe=Universe(machine="none"))
    {'return': 'none-machine'}
"""

from __future__ import annotations

from qom.qmp.dispatch import COMMANDS, DEFAULT_VERSION, dispatch, error_response, execute, greeting

__all__ = [  # noqa: RUF022 -- ordered by importance, not alphabetically
    "execute",
    "dispatch",
    "greeting",
    "error_response",
    "COMMANDS",
    "DEFAULT_VERSION",
]
