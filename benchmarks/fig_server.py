"""Figure 8: ``qomsim serve`` under attack.  A fresh server (default limits) is attacked while a control
client asks ``query-version`` every 10 ms, from a process of its own (:mod:`benchmarks.control`), for the
window and until it has at least 100 answers (a p95 needs them); the figures are the control client's
median and 95th-percentile latency, the server's peak RSS (``VmHWM``), and how long the server takes to
exit after SIGTERM.  Every client, the attackers' included, connects with
:func:`benchmarks.control.connect_unix`, which waits while the server's listen backlog is full (8c's 1,100
connections fill it): asyncio alone hands back a socket that never connected there.

* 8a, amplification: ``qom-list-get`` naming N paths (200,000 in the full run: a 2.4 MB request), sent
  again and again by one client for the measuring window;
* 8b, big echoes: five clients at once each send a request whose ``id`` is a 60 MB string;
* 8c, slow connections: 1,100 connections that each send half a message and never finish it;
* 8d and 8e, out-of-band floods (issue 26): 8 clients each pipeline 500 ``exec-oob migrate-pause``, again
  and again, on ``--design qemu-10.0`` and ``--design proposed-singleton-keepalive``;
* 8f, many tokens: three clients each send an unfinished 2 MB message of 2 million tokens
  (``"id": [1,1,1,...``) and one sends a ``qom-list-get`` naming a million paths;
* 8g, slow readers: 60 clients each ask for two replies of 1.37 MB and never read them;
* 8h, pipelining: one client sends 64 KiB batches of pipelined ``qom-list`` requests;
* 8i, churn: 4 clients ``object-add`` and ``object-del`` in a loop (``--examples``);
* 8j, idle connections: 64 negotiated connections that say nothing more (the default
  ``--max-connections``), then the control client connects;
* 8k, every attack above at once (keepalive design, ``--examples``);
* 8l, a live model's age: ``--design proposed-singleton-keepalive`` answering ``query-migrate`` again and
  again; the time of the last 500 requests against the first 500 (issue 26, item 7).

The reference of each latency is the control client's median on the idle server, measured in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from benchmarks.control import connect_unix
from benchmarks.model import Config, NotMeasured, Row, Target, judged, not_measured

__all__ = ["AGE_TARGET", "EXIT_TARGET", "LATENCY_TARGET", "P95_TARGET", "RSS_ALL_TARGET", "RSS_TARGET",
           "measure_server"]

ROOT = Path(__file__).resolve().parent.parent
RSS_TARGET = Target(256, on_ratio=False, unit="MiB")
RSS_ALL_TARGET = Target(512, on_ratio=False, unit="MiB")
LATENCY_TARGET = Target(100, on_ratio=False, unit="ms")
P95_TARGET = Target(250, on_ratio=False, unit="ms")
EXIT_TARGET = Target(2000, on_ratio=False, unit="ms")
AGE_TARGET = Target(2, on_ratio=True)

Attack = Callable[[str, asyncio.Event, list[int]], Coroutine[Any, Any, None]]


def _hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise NotMeasured(f"/proc/{pid}/status has no VmHWM")


async def _open(path: str, oob: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await connect_unix(path, timeout=30.0, limit=1 << 26)
    await reader.readline()  # greeting (or a refusal)
    caps = b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}' if oob else \
        b'{"execute": "qmp_capabilities"}'
    writer.write(caps)
    await reader.readline()
    return reader, writer


async def _control(path: str, seconds: float, min_samples: int, cap_s: float) -> dict[str, Any]:
    """Run :mod:`benchmarks.control` in a process of its own; :return: what it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.control", path, f"{seconds:g}", str(min_samples), f"{cap_s:g}",
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise NotMeasured(f"the control client failed: {err.decode(errors='replace').strip()[-200:]}")
    result: dict[str, Any] = json.loads(out)
    return result


async def _loop(path: str, stop: asyncio.Event, sent: list[int], request: bytes, answers: int,
                oob: bool = False) -> None:
    """Send ``request`` and read ``answers`` lines, again and again, until ``stop``."""
    reader, writer = await _open(path, oob)
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while not stop.is_set():
            writer.write(request)
            await writer.drain()
            for _ in range(answers):
                if not await reader.readline():
                    return
            sent.append(len(request))
    writer.close()


def _amplify(paths: int) -> Attack:
    request = json.dumps({"execute": "qom-list-get", "arguments": {"paths": ["/machine"] * paths}}).encode()
    # past --max-message-tokens the rest of the message is lexed afresh: read what comes back for a while
    return lambda path, stop, sent: _loop(path, stop, sent, request, 1)


def _echo(size: int) -> Attack:
    request = b'{"execute": "query-version", "id": "' + b"x" * size + b'"}'
    return lambda path, stop, sent: _loop(path, stop, sent, request, 1)


def _oob(count: int) -> Attack:
    request = b'{"exec-oob": "migrate-pause"}' * count
    return lambda path, stop, sent: _loop(path, stop, sent, request, count, oob=True)


def _batch(size: int) -> Attack:
    one = b'{"execute": "qom-list", "arguments": {"path": "/machine"}}'
    count = size // len(one)
    return lambda path, stop, sent: _loop(path, stop, sent, one * count, count)


async def _churn(path: str, stop: asyncio.Event, sent: list[int]) -> None:
    reader, writer = await _open(path)
    name = f"churn{id(writer)}"
    while not stop.is_set():
        writer.write(json.dumps({"execute": "object-add", "arguments": {"qom-type": "example-memory",
                                                                        "id": name}}).encode())
        writer.write(json.dumps({"execute": "object-del", "arguments": {"id": name}}).encode())
        for _ in range(2):
            if not await reader.readline():
                return
        sent.append(2)
    writer.close()


async def _slow(count: int, path: str, stop: asyncio.Event, sent: list[int]) -> None:
    writers: list[asyncio.StreamWriter] = []
    for _ in range(count):
        try:
            _reader, writer = await connect_unix(path, timeout=5.0)
        except OSError:
            sent.append(-1)
            continue
        writer.write(b'{"execute": "qom-list", "arguments": {"path": ')
        writers.append(writer)
        sent.append(1)
    await stop.wait()
    for writer in writers:
        writer.close()


async def _tokens(path: str, stop: asyncio.Event, sent: list[int]) -> None:
    """Three unfinished 2 MB messages of 2 million tokens, and a million-path qom-list-get; nothing read."""
    writers: list[asyncio.StreamWriter] = []
    for message in [b'{"execute": "query-version", "id": [' + b"1," * 1_000_000] * 3 + [
            json.dumps({"execute": "qom-list-get", "arguments": {"paths": ["/m"] * 1_000_000}}).encode()]:
        _reader, writer = await _open(path)
        writers.append(writer)
        writer.write(message)
        sent.append(len(message))
    await stop.wait()
    for writer in writers:
        writer.close()


async def _slow_readers(path: str, stop: asyncio.Event, sent: list[int]) -> None:
    """60 clients ask for 1.37 MB replies (an echoed id), 2 each, and read none."""
    request = b'{"execute": "query-version", "id": "' + b"x" * 1_370_000 + b'"}'
    writers: list[asyncio.StreamWriter] = []
    for _ in range(60):
        _reader, writer = await _open(path)
        writers.append(writer)
        for _ in range(2):
            writer.write(request)
            sent.append(len(request))
    await stop.wait()
    for writer in writers:
        writer.transport.abort()


async def _idle(count: int, path: str, stop: asyncio.Event, sent: list[int]) -> None:
    writers = []
    for _ in range(count):
        _reader, writer = await _open(path)
        writers.append(writer)
        sent.append(1)
    await stop.wait()
    for writer in writers:
        writer.close()


@dataclasses.dataclass
class _Scenario:
    fig: str
    what: str
    attacks: list[Attack]
    args: tuple[str, ...] = ()
    #: the attackers start (connect) before the control client
    first: bool = False


async def _measure(path: str, pid: int, sc: _Scenario, seconds: float, min_samples: int) -> dict[str, Any]:
    """The control client runs for ``seconds`` and until it has ``min_samples`` answers (at most 12 times the
    window), in a process of its own; the attackers run here until it is done."""
    stop = asyncio.Event()
    sent: list[int] = []
    attackers = [asyncio.create_task(a(path, stop, sent)) for a in sc.attacks]
    if sc.first:
        await asyncio.sleep(min(1.0, seconds))
    control = await _control(path, seconds, min_samples, 12 * seconds)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*attackers, return_exceptions=True), 120)
    latencies: list[float] = control["latencies_ms"]
    ordered = sorted(latencies) or [float("inf")]  # refused, or never answered: missed
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank: 2 samples give the larger
    return {"median_ms": statistics.median(ordered), "p95_ms": p95, "max_ms": ordered[-1],
            "samples": len(latencies), "control_s": control["offsets_s"][-1] if latencies else 0.0,
            "connect_ms": control["connect_ms"], "requests": len(sent),
            "refused": int(bool(control["refused"])), "why": control["refused"],
            "bytes": sum(s for s in sent if s > 0), "hwm_mib": _hwm_mib(pid)}


def _serve(args: tuple[str, ...], body: Callable[[str, int], dict[str, Any]]) -> dict[str, Any]:
    """Run ``body(socket, pid)`` against a fresh server; then SIGTERM it and time its exit."""
    with tempfile.TemporaryDirectory(prefix="qomsim-bench-") as tmp:
        sock = str(Path(tmp) / "qmp.sock")
        proc = subprocess.Popen([sys.executable, "-m", "qom.cli", "serve", "--socket", sock, *args],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            if not proc.stdout.readline():
                raise NotMeasured("qomsim serve did not start")
            result = body(sock, proc.pid)
            result["alive"] = proc.poll() is None
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            result["exit_ms"] = (time.perf_counter() - t0) * 1000
        finally:
            if proc.poll() is None:
                proc.kill()
            _out, err = proc.communicate(timeout=60)
        result["stderr_bytes"] = len(err)
        result["status"] = proc.returncode
        return result


def _run(sc: _Scenario, seconds: float, min_samples: int) -> dict[str, Any]:
    return _serve(sc.args, lambda sock, pid: asyncio.run(_measure(sock, pid, sc, seconds, min_samples)))


def _age(requests: int) -> dict[str, Any]:
    """The live model answering ``query-migrate`` ``requests`` times: seconds of the first and last 500."""

    async def body(path: str) -> dict[str, Any]:
        reader, writer = await _open(path)
        times: list[float] = []
        for _ in range(requests):
            t0 = time.perf_counter()
            writer.write(b'{"execute": "query-migrate"}')
            if not await reader.readline():
                break
            times.append(time.perf_counter() - t0)
        writer.close()
        window = min(500, max(1, len(times) // 4))
        return {"answered": len(times), "first": sum(times[:window]) / window,
                "last": sum(times[-window:]) / window}

    def run(sock: str, pid: int) -> dict[str, Any]:
        out = asyncio.run(body(sock))
        out["hwm_mib"] = _hwm_mib(pid)
        return out

    return _serve(("--design", "proposed-singleton-keepalive"), run)


def _rows(sc: _Scenario, r: dict[str, Any], idle: dict[str, Any], seconds: float, detail: int) -> list[Row]:
    """:param detail: the number of the first detail row (8.N: the p95, then the exit time)."""
    note = (f"{seconds:g} s window, {r['samples']} control requests in {r['control_s']:.1f} s, from a "
            f"process of its own (connected in {r['connect_ms']:.0f} ms, p95 {r['p95_ms']:.1f} ms, "
            f"max {r['max_ms']:.1f} ms, "
            f"{'refused: ' + r['why'][:120] if r['refused'] else 'not refused'}), "
            f"{r['requests']:,} attack requests/connections "
            f"({r['bytes'] / 2**20:,.1f} MiB sent); server {'alive' if r['alive'] else 'DEAD'}, exit status "
            f"{r['status']} {r['exit_ms']:.0f} ms after SIGTERM, {r['stderr_bytes']} bytes on its stderr; "
            f"{' '.join(sc.args) or 'default limits'}")
    rss_target = RSS_ALL_TARGET if sc.fig == "8k" else RSS_TARGET
    base = idle["median_ms"]
    rows = [
        judged(sc.fig, f"control client's median latency under {sc.what}", r["median_ms"], "ms",
               target=LATENCY_TARGET, reference=f"idle server: {base:.2f} ms", reference_value=base,
               ratio=r["median_ms"] / base, note=note),
        dataclasses.replace(judged(
            f"8.{detail}", f"{sc.fig}: control client's p95 latency under {sc.what}", r["p95_ms"], "ms",
            target=P95_TARGET,
            reference=f"idle server: {idle['p95_ms']:.2f} ms", reference_value=idle["p95_ms"],
            ratio=r["p95_ms"] / idle["p95_ms"], note=note), detail=True),
        judged(sc.fig, f"server peak RSS under {sc.what}", r["hwm_mib"], "MiB", target=rss_target,
               reference=f"idle server: {idle['hwm_mib']:.1f} MiB", reference_value=idle["hwm_mib"],
               ratio=r["hwm_mib"] / idle["hwm_mib"], note=note),
        dataclasses.replace(judged(
            f"8.{detail + 1}", f"{sc.fig}: exit after SIGTERM under {sc.what}", r["exit_ms"], "ms",
            target=EXIT_TARGET,
            note=note), detail=True),
    ]
    return rows


def measure_server(config: Config) -> list[Row]:
    """Figure 8.

    :param config: the mode (tiny: small attacks, fractions of a second; quick: the issue's sizes, short
        windows; full: the issue's sizes, 5 s windows).
    :return: rows 8a-8l (latency, peak RSS and exit time for each attack; the live model's age).
    """
    tiny = config.mode == "tiny"
    seconds = {"tiny": 0.3, "quick": 1.5}.get(config.mode, 5.0)
    paths = 2_000 if tiny else 200_000
    echo = 1 << 20 if tiny else 60 << 20
    slow = 50 if tiny else 1_100
    oob = 50 if tiny else 500
    start = time.monotonic()
    keepalive = ("--design", "proposed-singleton-keepalive")
    scenarios = [
        _Scenario("8a", f"qom-list-get over {paths:,} paths, repeated", [_amplify(paths)]),
        _Scenario("8b", f"5 clients echoing a {echo >> 20} MB id", [_echo(echo)] * 5),
        _Scenario("8c", f"{slow:,} connections that never finish a message",
                  [lambda p, s, n: _slow(slow, p, s, n)]),
        _Scenario("8d", f"8 clients x {oob} exec-oob migrate-pause, qemu-10.0", [_oob(oob)] * 8,
                  ("--design", "qemu-10.0")),
        _Scenario("8e", f"8 clients x {oob} exec-oob migrate-pause, keepalive", [_oob(oob)] * 8, keepalive),
        _Scenario("8f", "3 unfinished messages of 2 million tokens and a million-path qom-list-get",
                  [_tokens]),
        _Scenario("8g", "60 clients not reading 2 replies of 1.37 MB each", [_slow_readers]),
        _Scenario("8h", "64 KiB batches of pipelined qom-list", [_batch(64 << 10)]),
        _Scenario("8i", "object-add/object-del churn from 4 clients", [_churn] * 4, ("--examples",)),
        _Scenario("8j", "64 idle negotiated connections", [lambda p, s, n: _idle(64, p, s, n)], first=True),
    ]
    if tiny:  # the harness's own test: the first scenarios only, the others are the same code
        scenarios = scenarios[:1] + scenarios[3:4]
    every = [a for sc in scenarios if sc.fig not in ("8j",) for a in sc.attacks]
    scenarios.append(_Scenario("8k", "every attack above at once", every, (*keepalive, "--examples")))
    min_samples = 5 if tiny else 100  # a p95 needs a hundred
    idle = _run(_Scenario("8", "nothing", []), seconds, min_samples)
    rows: list[Row] = []
    for sc in scenarios:
        if config.budget_s is not None and time.monotonic() - start > config.budget_s:
            rows.append(not_measured(sc.fig, f"control latency and peak RSS under {sc.what}",
                                     f"{config.mode}-mode time budget used up", LATENCY_TARGET))
            continue
        rows += _rows(sc, _run(sc, seconds, min_samples), idle, seconds, 1 + sum(r.detail for r in rows))
    requests = {"tiny": 400, "quick": 3_000}.get(config.mode, 12_000)
    age = _age(requests)
    ratio = age["last"] / age["first"]
    rows.append(judged(
        "8l", f"live model: time per query-migrate after {age['answered']:,} requests", age["last"] * 1000,
        "ms",
        target=AGE_TARGET, reference=f"the first {min(500, age['answered'] // 4)} requests: "
        f"{age['first'] * 1000:.2f} ms", reference_value=age["first"] * 1000, ratio=ratio,
        note=f"{requests:,} requests asked, {age['answered']:,} answered; server "
        f"{'alive' if age['alive'] else 'DEAD'} (exit status {age['status']}), "
        f"peak RSS {age['hwm_mib']:.1f} MiB"))
    return rows
