"""Figure 8: ``qomsim serve`` under attack.  A fresh server (default limits) is attacked while a control
client asks ``query-version`` every 10 ms; the figures are the server's peak RSS (``VmHWM``) and the
control client's median latency.

* 8a, amplification: ``qom-list-get`` naming N paths (200,000 in the full run: a 2.4 MB request), sent
  again and again by one client for the measuring window;
* 8b, big echoes: five clients at once each send a request whose ``id`` is a 60 MB string;
* 8c, slow connections: 1,100 connections that each send half a message and never finish it.

The reference of each latency is the control client's median on the idle server, measured in the same run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.model import Config, NotMeasured, Row, Target, judged

__all__ = ["LATENCY_TARGET", "RSS_TARGET", "measure_server"]

ROOT = Path(__file__).resolve().parent.parent
RSS_TARGET = Target(256, on_ratio=False, unit="MiB")
LATENCY_TARGET = Target(100, on_ratio=False, unit="ms")


def _hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise NotMeasured(f"/proc/{pid}/status has no VmHWM")


async def _open(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(path, limit=1 << 26)
    await reader.readline()  # greeting (or a refusal)
    writer.write(b'{"execute": "qmp_capabilities"}')
    await reader.readline()
    return reader, writer


async def _control(path: str, stop: asyncio.Event, latencies: list[float]) -> None:
    reader, writer = await _open(path)
    while not stop.is_set():
        t0 = time.perf_counter()
        writer.write(b'{"execute": "query-version"}')
        line = await reader.readline()
        latencies.append((time.perf_counter() - t0) * 1000)
        if not line:
            break
        await asyncio.sleep(0.01)
    writer.close()


async def _amplify(path: str, paths: int, stop: asyncio.Event, sent: list[int]) -> None:
    reader, writer = await _open(path)
    request = json.dumps({"execute": "qom-list-get", "arguments": {"paths": ["/machine"] * paths}}).encode()
    while not stop.is_set():
        writer.write(request)
        await writer.drain()
        await reader.readline()
        sent.append(len(request))
    writer.close()


async def _echo(path: str, size: int, stop: asyncio.Event, sent: list[int]) -> None:
    reader, writer = await _open(path)
    request = b'{"execute": "query-version", "id": "' + b"x" * size + b'"}'
    while not stop.is_set():
        writer.write(request)
        await writer.drain()
        await reader.readline()
        sent.append(len(request))
    writer.close()


async def _slow(path: str, count: int, stop: asyncio.Event, sent: list[int]) -> None:
    writers: list[asyncio.StreamWriter] = []
    for _ in range(count):
        try:
            _reader, writer = await asyncio.open_unix_connection(path)
        except OSError:
            sent.append(-1)
            continue
        writer.write(b'{"execute": "qom-list", "arguments": {"path": ')
        writers.append(writer)
        sent.append(1)
    await stop.wait()
    for writer in writers:
        writer.close()


async def _scenario(path: str, pid: int, attack: str, arg: int, seconds: float) -> dict[str, Any]:
    stop = asyncio.Event()
    latencies: list[float] = []
    sent: list[int] = []
    attackers: list[asyncio.Task[None]] = []
    if attack == "amplify":
        attackers.append(asyncio.create_task(_amplify(path, arg, stop, sent)))
    elif attack == "echo":
        attackers += [asyncio.create_task(_echo(path, arg, stop, sent)) for _ in range(5)]
    elif attack == "slow":
        attackers.append(asyncio.create_task(_slow(path, arg, stop, sent)))
    control = asyncio.create_task(_control(path, stop, latencies))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(asyncio.gather(control, *attackers, return_exceptions=True), 120)
    if not latencies:
        raise NotMeasured(f"the control client got no answer during the {attack} attack")
    return {"median_ms": statistics.median(latencies), "samples": len(latencies), "requests": len(sent),
            "bytes": sum(s for s in sent if s > 0), "hwm_mib": _hwm_mib(pid)}


def _run(attack: str, arg: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qomsim-bench-") as tmp:
        sock = str(Path(tmp) / "qmp.sock")
        proc = subprocess.Popen([sys.executable, "-m", "qom.cli", "serve", "--socket", sock], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            if not proc.stdout.readline():
                raise NotMeasured("qomsim serve did not start")
            result = asyncio.run(_scenario(sock, proc.pid, attack, arg, seconds))
        finally:
            proc.terminate()
            _out, err = proc.communicate(timeout=60)
        result["stderr_bytes"] = len(err)
        return result


def measure_server(config: Config) -> list[Row]:
    """Figure 8.

    :param config: the mode (tiny: small attacks, seconds; quick and full: the issue's sizes).
    :return: rows 8a-8c (latency, then peak RSS, for each attack).
    """
    tiny = config.mode == "tiny"
    seconds = 0.5 if tiny else 5.0
    paths = 2_000 if tiny else 200_000
    echo = 1 << 20 if tiny else 60 << 20
    slow = 50 if tiny else 1_100
    idle = _run("none", 0, seconds)
    rows: list[Row] = []
    for fig, attack, arg, what in (
        ("8a", "amplify", paths, f"qom-list-get over {paths:,} paths, repeated"),
        ("8b", "echo", echo, f"5 clients echoing a {echo >> 20} MB id"),
        ("8c", "slow", slow, f"{slow:,} connections that never finish a message"),
    ):
        r = _run(attack, arg, seconds)
        note = (f"{seconds:g} s window, {r['samples']} control requests, {r['requests']:,} attack "
                f"requests/connections ({r['bytes'] / 2**20:,.1f} MiB sent), {r['stderr_bytes']} bytes on "
                "the server's stderr; default limits")
        rows.append(judged(fig, f"control client's median latency under {what}", r["median_ms"], "ms",
                           target=LATENCY_TARGET, reference=f"idle server: {idle['median_ms']:.2f} ms",
                           reference_value=idle["median_ms"], ratio=r["median_ms"] / idle["median_ms"],
                           note=note))
        rows.append(judged(fig, f"server peak RSS under {what}", r["hwm_mib"], "MiB", target=RSS_TARGET,
                           reference=f"idle server: {idle['hwm_mib']:.1f} MiB",
                           reference_value=idle["hwm_mib"], ratio=r["hwm_mib"] / idle["hwm_mib"], note=note))
    return rows
