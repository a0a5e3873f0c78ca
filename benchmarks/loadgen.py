"""Closed-loop HTTP load: N asyncio workers, a new connection per request.

Usage: loadgen.py URL --workers N [--seconds S]

Prints ``ready`` once the workers run, then runs until SIGTERM or S seconds,
whichever comes first, and prints one JSON line: sent, failed, seconds, errors
and the latency of the answers (p50, p99, max, how many took a second or more).
It runs in its own process so that it never shares a GIL with the release.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

REQUEST_TIMEOUT_SECONDS = 5.0
MAX_SECONDS = 900.0
DRAIN_TIMEOUT_SECONDS = 10.0
SLOW_SECONDS = 1.0  # a dropped TCP handshake costs at least one 1 s SYN retransmission


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def summary(self, seconds: float) -> dict[str, object]:
        ordered = sorted(self.latencies) or [0.0]
        percentiles = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else ordered * 99
        return {
            "sent": self.sent,
            "failed": self.failed,
            "seconds": seconds,
            "errors": dict(self.errors),
            "p50_ms": round(1000 * percentiles[49], 1),
            "p99_ms": round(1000 * percentiles[98], 1),
            "max_ms": round(1000 * ordered[-1], 1),
            "over_1s": sum(latency >= SLOW_SECONDS for latency in ordered),
        }


async def worker(client: httpx.AsyncClient, url: str, stats: Stats, stop: asyncio.Event) -> None:
    """Sends one request after another until stopped; a non-200 answer counts as failed."""
    while not stop.is_set():
        stats.sent += 1
        started = time.monotonic()
        try:
            outcome = str((await client.get(url)).status_code)
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        stats.latencies.append(time.monotonic() - started)
        if outcome != "200":
            stats.failed += 1
            stats.errors[outcome] += 1


async def run(url: str, workers: int, seconds: float) -> dict[str, object]:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    stats = Stats()
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as client:
        tasks = [asyncio.create_task(worker(client, url, stats, stop)) for _ in range(workers)]
        started = time.monotonic()
        print("ready", flush=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=min(seconds, MAX_SECONDS))
        except TimeoutError:
            stop.set()
        elapsed = time.monotonic() - started
        _, stuck = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_SECONDS)
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
    return stats.summary(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=MAX_SECONDS)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.workers, args.seconds))), flush=True)


if __name__ == "__main__":
    main()
