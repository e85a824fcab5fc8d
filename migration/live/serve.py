"""``qomsim serve``: a QOM universe over QMP, with a migration design's model running behind it.

It is :mod:`qom.cli.serve` plus what every QEMU has and the QOM side cannot know of: the
``migration`` type and its live object (:mod:`migration.live.qomside`), the migration commands,
out-of-band execution, and ``quit`` carried out as ``qemu_cleanup()`` does, step by step, by the
design's model (:class:`~migration.live.model.LiveModel`), and so is SIGTERM or SIGINT to the server:
each enters the model's shutdown from its own source (a client's ``quit`` is ``qmp-quit``, a signal
``sigterm`` or ``sigint``; :mod:`migration.model.shutdown`)::

    $ qomsim serve --design singleton-v2 --socket /tmp/q.sock
    $ qomsim serve --design qemu-10.0 --socket /tmp/q.sock --trace uaf.json

``--design`` takes a preset id, ``FILE.py:NAME`` or ``module:NAME`` (default: the preset of the
QEMU version served).  ``migrate`` understands the model's own URIs: ``qomsim:peer`` (a peer
that takes the stream), ``qomsim:blocked`` (a peer that never answers, over a socket) and
``qomsim:blocked-file`` (the same over a pipe, which ``migration_cancel()`` cannot unblock).

When the model faults, the server dies as the emulated QEMU would: it prints
``qomsim: fault: <OUTCOME> at step <N> on <actor> (<object>): <detail>`` and the trace on
stderr and exits with status 134 (``--trace FILE`` saves the run for ``qomsim replay``).  The model
runs for as long as clients ask: the work and memory of one request do not grow with the requests
served; without ``--trace`` the trace printed is the last
:data:`~migration.live.model.RECENT_STEPS` steps, with ``--trace`` the whole run is kept (its
memory grows with the run, by a few hundred bytes per request).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from migration.check.registry import design_ids, resolve
from migration.live.model import LiveModel, Verdict
from migration.live.qomside import install_migration, policy_of
from migration.model.designs import DESIGNS, Design
from migration.model.heap import MigStatus
from migration.model.program import EVENT_KINDS, Event, ev
from qom.cli import serve as qom_serve
from qom.errors import GenericError
from qom.qmp.dispatch import DEFAULT_VERSION
from qom.qmp.json import JSON
from qom.qmp.schema import Arg, Command, CommandContext, VersionInfo
from qom.qmp.server import ServerAbort, ServerConfig, ServerHooks
from qom.universe import Universe

__all__ = ["ABORT_STATUS", "EPILOG", "HELP", "SHUTDOWN_CAUSES", "URI_BLOCKED",
           "URI_BLOCKED_FILE", "URI_PEER", "LiveServer",
           "add_arguments", "default_design", "run"]

HELP = "serve a QOM universe over QMP, with a migration design's model behind it"

#: the end of ``--help``: qom.cli.serve's limits and exit statuses, and the model's
EPILOG = qom_serve.EPILOG + (
    "\n  134  the migration model faulted, as the emulated QEMU would die (the fault and the trace on stderr)"
)

#: the exit status of a process killed by SIGABRT, as a shell reports it
ABORT_STATUS = 134
#: ``migrate`` to a model peer that takes the stream
URI_PEER = "qomsim:peer"
#: ``migrate`` to a model peer that never answers, over a socket (``qemu_file_shutdown()`` ends the write)
URI_BLOCKED = "qomsim:blocked"
#: ``migrate`` to a model peer that never answers, over a pipe or file (nothing can end the write)
URI_BLOCKED_FILE = "qomsim:blocked-file"
#: what asks the server to shut down -> the model's shutdown source (migration.model.shutdown): every
#: client of the server is a QMP monitor, and the server dispatches their in-band requests one at a time
SHUTDOWN_CAUSES: dict[str, str] = {"quit": "qmp-quit", "SIGTERM": "sigterm", "SIGINT": "sigint"}
_PEERS = {URI_PEER: {"peer": "ok"}, URI_BLOCKED: {"peer": "blocked"},
          URI_BLOCKED_FILE: {"peer": "blocked", "channel": "file"}}


def default_design(version: VersionInfo) -> Design:
    """:param version: the QEMU version served.
    :return: the preset of that version (the newest preset not newer than it).
    """
    presets = [((7, 2), "qemu-7.2"), ((9, 1), "qemu-9.1"), ((9, 2), "qemu-9.2"), ((10, 0), "qemu-10.0"),
               ((10, 1), "qemu-master")]
    chosen = "qemu-7.2"
    for (major, minor), name in presets:
        if (version.major, version.minor) >= (major, minor) and name in DESIGNS:
            chosen = name
    return DESIGNS[chosen]


class LiveServer:
    """The migration model behind a served universe: its commands and its clean-up.

    :param design: the design in force.
    :param universe: the served universe (gets the ``migration`` type and live object).
    :param trace: where to save a faulting run (``None``: nowhere).
    """

    def __init__(self, design: Design, universe: Universe, trace: Path | None = None) -> None:
        self.design = design
        self.universe = universe
        self.trace = trace
        self.model = LiveModel(design, keep_run=trace is not None)
        self.instance = install_migration(universe, design)
        self._check(self.model.feed(ev("object_init")))  # migration_object_init() in qemu_init()

    def __repr__(self) -> str:
        return f"LiveServer({self.design.name}, {self.model!r})"

    def hooks(self) -> ServerHooks:
        """:return: the server hooks: commands, out-of-band execution, ``quit``'s clean-up."""
        commands = (
            Command("migrate", self._migrate, (Arg("uri", "str", optional=True),
                                               Arg("detach", "bool", optional=True),
                                               Arg("resume", "bool", optional=True))),
            Command("migrate-incoming", self._migrate_incoming, (Arg("uri", "str", optional=True),)),
            Command("query-migrate", self._query_migrate),
            Command("migrate-pause", self._migrate_pause, allow_oob=True),
            Command("migrate-recover", self._migrate_recover, (Arg("uri", "str"),), allow_oob=True),
        )
        return ServerHooks(commands={c.name: c for c in commands}, offer_oob=True,
                           oob_open=self.model.oob_open, shutdown=self._quit)

    # -- faults ---------------------------------------------------------------------------------

    def _check(self, verdict: Verdict) -> None:
        f = verdict.fault
        if f is None:
            return
        lines = [f"qomsim: fault: {f}", f"qomsim: design {self.design.name}; the trace:"]
        steps = self.model.steps
        if steps.dropped:
            lines.append(f"qomsim: ({steps.dropped} earlier steps are not kept; "
                         "--trace FILE keeps the whole run)")
        lines += [str(step) for step in steps]
        if self.trace is not None:
            lines.append(self._save())
        raise ServerAbort("\n".join(lines), ABORT_STATUS)

    def _save(self) -> str:
        assert self.trace is not None
        try:
            cx = self.model.counterexample()
            text = json.dumps(cx.to_json(), indent=2) + "\n"
            fd = os.open(self.trace, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
        except (OSError, RuntimeError) as exc:
            return f"qomsim: the run was not saved to {self.trace}: {exc}"
        return f"qomsim: the run is saved in {self.trace} (re-run it with: qomsim replay {self.trace})"

    def _feed(self, *events: Event) -> None:
        self._check(self.model.feed(*events))

    # -- commands (migration/migration.c) ------------------------------------------------------

    def _migrate(self, ctx: CommandContext, args: dict[str, JSON]) -> JSON:
        uri = args.get("uri")
        if uri is None:
            raise GenericError("need either 'uri' or 'channels' argument")
        if not isinstance(uri, str) or uri not in _PEERS:
            raise GenericError(f"unknown migration protocol: {uri} (the model's peers: {', '.join(_PEERS)})")
        if self.model.status() in (MigStatus.ACTIVE, MigStatus.CANCELLING):
            raise GenericError("There's a migration process in progress")
        if self.model.world.spawned_thread:
            raise GenericError("qomsim: the model runs one outgoing migration per run")
        self._feed(ev("migrate", **{k: v for k, v in _PEERS[uri].items() if k in EVENT_KINDS["migrate"][0]}))
        return None

    def _migrate_incoming(self, ctx: CommandContext, args: dict[str, JSON]) -> JSON:
        if self.model.world.actor_named("co:incoming") is not None:
            raise GenericError("The incoming migration has already been started")
        self._feed(ev("migrate_incoming"))
        return None

    def _query_migrate(self, ctx: CommandContext, args: dict[str, JSON]) -> JSON:
        self._feed(ev("query_migrate"))
        status = self.model.status()
        return {} if status in (None, MigStatus.NONE) else {"status": status.value}

    def _oob(self, ctx: CommandContext, command: str) -> None:
        # out of band: the model's monitor I/O thread runs it, without the BQL; in band, QEMU's
        # dispatcher runs it on the main thread under the BQL while the object is alive (in-band
        # requests are never dispatched after quit), so only the answer matters
        if ctx.oob:
            self._feed(ev("oob", command=command))

    def _migrate_pause(self, ctx: CommandContext, args: dict[str, JSON]) -> JSON:
        self._oob(ctx, "migrate-pause")
        raise GenericError("migrate-pause is currently only supported during postcopy-active or "
                           "postcopy-recover state")

    def _migrate_recover(self, ctx: CommandContext, args: dict[str, JSON]) -> JSON:
        self._oob(ctx, "migrate-recover")
        raise GenericError("Migrate recover can only be run when postcopy is paused.")

    # -- quit --------------------------------------------------------------------------------------

    def _quit(self, cause: str) -> Iterator[None]:
        """The clean-up the server runs on ``quit`` or a signal, as the model's shutdown from that
        source (:data:`SHUTDOWN_CAUSES`).

        :param cause: what asked: ``quit`` (a QMP client's), ``SIGTERM`` or ``SIGINT``.
        :return: one iteration per ``qemu_cleanup()`` step.
        """
        for verdict in self.model.quit_steps(SHUTDOWN_CAUSES[cause]):
            self._check(verdict)
            yield


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``qomsim serve``'s options: :mod:`qom.cli.serve`'s, ``--design`` and ``--trace``.

    :param parser: the subcommand's parser.
    """
    qom_serve.add_arguments(parser)
    parser.add_argument("--design", metavar="DESIGN",
                        help="the migration design whose model runs: a preset id "
                        f"({', '.join(design_ids())}), "
                        "FILE.py:NAME or module:NAME (default: the preset of the QEMU version served)")
    parser.add_argument("--trace", metavar="FILE", type=Path,
                        help="when the model faults, save the run in FILE (a new file) for 'qomsim replay'")


def run(args: argparse.Namespace) -> int:
    """Run ``qomsim serve``.

    :param args: the parsed options.
    :return: the exit status (134 when the model faulted).
    """
    if args.trace is not None and args.trace.exists():
        print(f"qomsim serve: {args.trace} exists; --trace writes a new file only", file=sys.stderr)
        return 2
    built = qom_serve.build(args)
    if isinstance(built, int):
        return built
    universe, config = built
    try:
        if args.design is not None:
            design = resolve(args.design)
        else:
            design = default_design(_version(universe, config))
    except ValueError as exc:
        print(f"qomsim serve: {exc}", file=sys.stderr)
        return 2
    config = dataclasses.replace(config, version=served_version(design, universe, config))
    if args.introspection is None:
        universe.qmp_policy = policy_of(design)
    if args.singleton_policy is None:
        universe.singleton_policy = design.singleton_policy
    try:
        live = LiveServer(design, universe, args.trace)
    except ServerAbort as abort:  # the model faulted in migration_object_init()
        print(abort.report, file=sys.stderr)
        return abort.status
    return qom_serve.serve(universe, config, live.hooks())


def served_version(design: Design, universe: Universe, config: ServerConfig) -> VersionInfo | None:
    """The version the greeting and ``query-version`` report: ``--qemu-version``, else a captured
    universe's, else the release the design follows (``9.1.0`` for a design of tag 9.1); ``None`` (the
    server's default, a development version) for a design that follows master.

    :return: the version, or ``None``.
    """
    if config.version is not None or isinstance(getattr(universe, "qemu_version", None), VersionInfo):
        return config.version
    return None if design.tag == "master" else VersionInfo.parse(f"{design.tag}.0")


def _version(universe: Universe, config: ServerConfig) -> VersionInfo:
    if config.version is not None:
        return config.version
    captured = getattr(universe, "qemu_version", None)
    return captured if isinstance(captured, VersionInfo) else DEFAULT_VERSION
