"""The control client of figure 8, in a process of its own.

Run as ``python -m benchmarks.control SOCKET SECONDS MIN_SAMPLES CAP_SECONDS``: connect, negotiate, then ask
``query-version`` every 10 ms until ``SECONDS`` have passed and ``MIN_SAMPLES`` answers came back (or
``CAP_SECONDS`` have passed, whichever is first); print one JSON object on stdout: ``latencies_ms``,
``offsets_s`` (when each request was sent, from the first) and ``refused`` (what the server said when it
refused the connection, answered with an error or hung up, which ends the measurement; else empty).

A process of its own, because the attackers' event loop (writing 60 MB requests, reading their echoes) would
otherwise delay the control client's reads as much as the server does, and its latencies would measure both.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence

__all__ = ["main", "measure"]


async def measure(path: str, seconds: float, min_samples: int, cap_s: float) -> dict[str, object]:
    """:return: the latencies (ms), when each request was sent (s from the first) and why it ended early."""
    latencies: list[float] = []
    offsets: list[float] = []
    refused = ""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        greeting = await reader.readline()
        writer.write(b'{"execute": "qmp_capabilities"}')
        negotiated = b"" if not greeting or b'"error"' in greeting else await reader.readline()
        if not negotiated or b'"error"' in negotiated:
            refused = (greeting if b'"error"' in greeting else negotiated).decode(errors="replace").strip() \
                or "hung up"
        start = time.perf_counter()
        while not refused:
            elapsed = time.perf_counter() - start
            if elapsed >= cap_s or (elapsed >= seconds and len(latencies) >= min_samples):
                break
            t0 = time.perf_counter()
            writer.write(b'{"execute": "query-version"}')
            line = await reader.readline()
            if not line or b'"error"' in line:
                refused = line.decode(errors="replace").strip() or "hung up"
                break
            latencies.append((time.perf_counter() - t0) * 1000)
            offsets.append(t0 - start)
            await asyncio.sleep(0.01)
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        refused = str(exc)
    finally:
        writer.close()
    return {"latencies_ms": latencies, "offsets_s": offsets, "refused": refused}


def main(argv: Sequence[str] | None = None) -> int:
    """:param argv: ``SOCKET SECONDS MIN_SAMPLES CAP_SECONDS`` (default: ``sys.argv[1:]``).

    :return: 0.
    """
    path, seconds, min_samples, cap_s = argv if argv is not None else sys.argv[1:]
    result = asyncio.run(measure(path, float(seconds), int(min_samples), float(cap_s)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
