"""Backup benchmark on servers of its own; every figure is a ratio to a baseline of the same run.

1. throughput of the backup step (pg_dump streamed to S3 in parts, then read back through
   pg_restore --list) against `pg_dump --format=custom > /dev/null` of the same database;
2. peak memory (max RSS) of the process running the backup step, for a small database and
   one of at least 1 GiB: it must not grow with the database.

The target PostgreSQL and the moto S3 server are started from the sandbox's modules in a
temp dir and stopped in a `finally`. Filling 1 GiB takes a few minutes.

Run: .venv/bin/python benchmarks/bench_backup.py [--small-gib 0.25] [--large-gib 1.0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results" / "backup.json"
BUCKET = "trading-backups"
PREFIX = "bench/"
GIB = 1024**3
# One batch of candles: 20 symbols x 50,000 five-minute buckets, random prices.
FILL_BATCH = """
INSERT INTO market_data.ohlcv_5m (symbol, ts, open, high, low, close, volume)
SELECT 'S' || s, timestamptz '2000-01-01' + make_interval(mins => 5 * (b + %s)),
       o, o + r * 3, o - r * 2, o + r, round((random() * 1e6)::numeric, 8)
FROM generate_series(1, 20) s, generate_series(1, 50000) b,
     LATERAL (SELECT round((random() * 1e5 + 0 * (s + b))::numeric, 8) AS o,
                     round((random() + 0 * (s + b))::numeric, 8) AS r) p
"""  # "0 * (s + b)" correlates the subquery with the row, so each row gets its own prices


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def servers() -> Iterator[dict[str, str]]:
    """The target database cluster and an S3 server, on loopback, stopped afterwards."""
    from sandbox import s3, target_db

    with tempfile.TemporaryDirectory(prefix="bench-backup-") as state:
        os.chmod(state, 0o755)  # the postgres system user must reach its data
        database, storage = {}, {}
        try:
            target_db.start(database, Path(state))
            s3.start(storage, Path(state))
            yield {**database["env"], **storage["env"]}
        finally:
            progress("stopping the servers")
            s3.stop(storage)
            target_db.stop(database)


def database_bytes(url: str) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def fill_to(url: str, target_bytes: int, offset: list[int]) -> int:
    """Adds candles until the database holds at least ``target_bytes``."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS market_data")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS market_data.ohlcv_5m (symbol TEXT, ts TIMESTAMPTZ,"
            " open NUMERIC(20, 8), high NUMERIC(20, 8), low NUMERIC(20, 8),"
            " close NUMERIC(20, 8), volume NUMERIC(28, 8), PRIMARY KEY (symbol, ts))"
        )
        while database_bytes(url) < target_bytes:
            connection.execute(FILL_BATCH, (offset[0],))
            offset[0] += 50_000
            progress(f"database at {database_bytes(url) / GIB:.2f} GiB")
        connection.execute("VACUUM ANALYZE market_data.ohlcv_5m")
    return database_bytes(url)


def baseline_dump(url: str) -> float:
    """Seconds of `pg_dump --format=custom` to /dev/null, with the backup's own options."""
    command = ["pg_dump", "--format=custom", "--exclude-schema=release_pipeline_audit"]
    started = time.monotonic()
    subprocess.run([*command, f"--dbname={url}"], stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - started


def backup_step(env: dict[str, str]) -> dict[str, float]:
    """The backup step in a process of its own, so its max RSS is its own."""
    child = subprocess.run(
        [sys.executable, __file__, "--child"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(child.stdout)


def child() -> None:
    """Runs what the backup_database op runs: take_backup, then verify_backup."""
    from dagster_aws.s3 import S3Resource

    from release_pipeline.migrations.backup import take_backup, verify_backup
    from release_pipeline.resources.postgres_target import PostgresTargetResource

    target = PostgresTargetResource(url=os.environ["DATABASE_URL"])
    s3 = S3Resource(endpoint_url=os.environ["S3_ENDPOINT_URL"]).get_client()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    backup = take_backup(target, s3, BUCKET, PREFIX)
    uploaded = time.monotonic()
    verify_backup(target, s3, backup)
    done = time.monotonic()
    figures = {
        "archive_bytes": backup.size,
        "upload_seconds": uploaded - started,
        "step_seconds": done - started,
        "rss_after_imports_mib": rss_before / 1024,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(figures))


def measure(url: str, env: dict[str, str], repeats: int) -> dict[str, float]:
    """Baseline and step alternately, ``repeats`` times each: medians and bests, the worst RSS."""
    baselines, steps = [], []
    for _ in range(repeats):
        baselines.append(baseline_dump(url))
        steps.append(backup_step(env))
    baseline = statistics.median(baselines)
    upload = statistics.median(step["upload_seconds"] for step in steps)
    whole = statistics.median(step["step_seconds"] for step in steps)
    mib = steps[-1]["archive_bytes"] / 1024**2
    rss_after_imports = max(step["rss_after_imports_mib"] for step in steps)
    peak = max(step["peak_rss_mib"] for step in steps)
    return {
        "database_gib": round(database_bytes(url) / GIB, 3),
        "archive_mib": round(mib, 1),
        "pg_dump_devnull_mib_s": round(mib / baseline, 1),
        "upload_mib_s": round(mib / upload, 1),
        "step_mib_s": round(mib / whole, 1),
        "upload_throughput_ratio": round(baseline / upload, 2),
        "step_throughput_ratio": round(baseline / whole, 2),
        # The fastest of each side is the one the rest of the machine disturbed least.
        "step_throughput_ratio_best": round(
            min(baselines) / min(s["step_seconds"] for s in steps), 2
        ),
        "seconds": {
            "pg_dump_devnull": baselines,
            "upload": [s["upload_seconds"] for s in steps],
            "step": [s["step_seconds"] for s in steps],
        },
        "rss_after_imports_mib": round(rss_after_imports, 1),
        "peak_rss_mib": round(peak, 1),
        "backup_rss_mib": round(peak - rss_after_imports, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-gib", type=float, default=0.25)
    parser.add_argument("--large-gib", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    results, offset = {}, [0]
    with servers() as env:
        os.environ.update(env)
        for label, gib in (("small", args.small_gib), ("large", args.large_gib)):
            progress(f"filling the database to {gib} GiB")
            fill_to(env["DATABASE_URL"], int(gib * GIB), offset)
            progress(f"measuring the {label} database")
            results[label] = measure(env["DATABASE_URL"], env, args.repeats)
    results["peak_rss_ratio_large_to_small"] = round(
        results["large"]["peak_rss_mib"] / results["small"]["peak_rss_mib"], 2
    )
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["load_average"] = os.getloadavg()
    RESULTS_JSON.parent.mkdir(exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
