"""Closed-loop HTTP load: N asyncio workers, a new connection per request.

Usage: loadgen.py URL --workers N [--seconds S]

Prints ``ready`` once the workers run, then runs until SIGTERM or S seconds,
whichever comes first, and prints one JSON line: sent, failed, seconds, errors.
It runs in its own process so that it never shares a GIL with the release.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

REQUEST_TIMEOUT_SECONDS = 5.0
MAX_SECONDS = 900.0
DRAIN_TIMEOUT_SECONDS = 10.0


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)


async def worker(client: httpx.AsyncClient, url: str, stats: Stats, stop: asyncio.Event) -> None:
    """Sends one request after another until stopped; a non-200 answer counts as failed."""
    while not stop.is_set():
        stats.sent += 1
        try:
            outcome = str((await client.get(url)).status_code)
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
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
        await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_SECONDS)
    return {"sent": stats.sent, "failed": stats.failed, "seconds": elapsed, "errors": stats.errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=MAX_SECONDS)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.workers, args.seconds))), flush=True)


if __name__ == "__main__":
    main()
