"""Canary benchmark on a sandbox of its own; every figure is set against a baseline of the same run.

1. abort latency: from the first failed answer of a canary failing 20 % of predictions to
   the first answer after which every answer comes from stable, with the catalog's analysis
   (30 s interval) and with the tests' (2 s); baseline: the seed's procedure, a fixed 300 s
   wait then one query and the switch back. The 300 s are added, not waited; the query and
   the switch after them are measured here, by hand, on the same sandbox;
2. requests failed during those aborts: the canary's own 500s, against what the seed's 300 s
   at 10 % would cost at the rate measured at rest, and any other failure;
3. requests failed during the promotion of a healthy canary, against the same load at rest.

Run: .venv/bin/python benchmarks/bench_canary.py [--runs N] [--workers W]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx

from release_pipeline.analysis import wait_until_scraped
from release_pipeline.definitions import defs
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.nginx import Backend, NginxResource
from release_pipeline.resources.prometheus import PrometheusResource
from release_pipeline.strategies.tracks import header_facts
from release_pipeline_tests.support import FAST_VERIFY, commit_to_branch, failure_message
from sandbox import Stack

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULTS_JSON, LOG_FILE = RESULTS_DIR / "canary.json", RESULTS_DIR / "canary.log"
SERVICE, PORT = "ml_engine", 8000
PREDICTION = {"symbol": "BTCUSDT", "horizon": 18}
SEED_WAIT_SECONDS = 300.0  # the seed: 10 % to the canary, `sleep 300`, one query
SEED_QUERY = "rate(ml_prediction_errors[5m])"  # as the seed writes it
SEED_QUERY_FIXED = "sum(rate(ml_prediction_errors_total[5m]))"  # its intent, still global
FAILING_ENV = "ML_ERROR_RATE=20\n"
FAST = {"analysis_interval_seconds": 2, "analysis_count": 4, "analysis_min_requests": 8}
QUICK = {"health_retries": 10, "health_interval_seconds": 0.5, "scale_down_delay_seconds": 0}
BASELINE_TRAFFIC_SECONDS = 3.0
REQUEST_TIMEOUT_SECONDS = 5.0


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.__stderr__, flush=True)


def nginx() -> NginxResource:
    keys = {"nginx_bin": "NGINX_BIN", "prefix": "NGINX_PREFIX", "conf": "NGINX_CONF"}
    keys |= {"upstream_dir": "NGINX_UPSTREAM_DIR", "lb_urls": "LB_URLS"}
    return NginxResource(**{field: os.environ[name] for field, name in keys.items()})


def runtime() -> DockerResource:
    env = os.environ
    return DockerResource(
        base_url=env["DOCKER_HOST"], environment=env["RELEASE_ENVIRONMENT"], base_image=""
    )


# --- load: a process of its own that records every answer ----------------------------


async def _load(url: str, workers: int, out: Path) -> None:
    stop, answers = asyncio.Event(), []
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    headers = {"X-API-Key": os.environ["ML_API_KEY"]}
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=0)

    async def worker(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            sent = time.time()
            try:
                answer = await client.post(url, json=PREDICTION, headers=headers)
                seen = [answer.status_code, answer.headers.get("x-app-version", "")]
            except httpx.HTTPError as exc:
                seen = [type(exc).__name__, ""]
            answers.append([sent, *seen])

    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as client:
        tasks = [asyncio.create_task(worker(client)) for _ in range(workers)]
        print("ready", flush=True)
        await stop.wait()
        await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT_SECONDS * 2)
    out.write_text(json.dumps(sorted(answers)))


@contextlib.contextmanager
def load(workers: int):
    """Runs the load process for the block; yields a list filled with its answers after it."""
    answers: list[list] = []
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        url = nginx().lb_url(SERVICE) + "/predictions"
        command = [sys.executable, __file__, "--load", url, str(workers), out.name]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        if process.stdout.readline().strip() != "ready":
            process.kill()
            raise RuntimeError("the load process did not start")
        try:
            yield answers
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            answers.extend(json.loads(Path(out.name).read_text() or "[]"))


def timeline(answers: list[list], canary_version: str) -> dict:
    """Abort latency and failures, from the answers' send times and versions."""
    canary = [i for i, (_, _, version) in enumerate(answers) if version == canary_version]
    failed = [i for i in canary if answers[i][1] != 200]
    others = [a for a in answers if a[1] != 200 and a[2] != canary_version]
    back = answers[canary[-1] + 1][0] if canary and canary[-1] + 1 < len(answers) else None
    return {
        "latency_s": back - answers[failed[0]][0] if failed and back else None,
        "back_on_stable_at": back,
        "sent": len(answers),
        "canary_answers": len(canary),
        "canary_failed": len(failed),
        "other_failed": len(others),
        "other_failures_by_kind": dict(Counter(str(answer[1]) for answer in others)),
        "seconds": answers[-1][0] - answers[0][0] if answers else 0.0,
    }


# --- the pipeline --------------------------------------------------------------------


def release(version: str, git_ref: str, analysis: dict) -> dg.ExecuteInProcessResult:
    config = {
        "ops": {
            "checkout": {"config": {"git_ref": git_ref, "version": version}},
            "deploy_canary": {"config": {**QUICK, **analysis}},
            "verify_release": {"config": FAST_VERIFY},
        }
    }
    with (
        LOG_FILE.open("a") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        return defs.resolve_job_def(f"{SERVICE}_release").execute_in_process(
            run_config=config, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
        )


def pipeline_abort(version: str, analysis: dict, workers: int) -> dict:
    with load(workers) as answers:
        result = release(version, "failing", analysis)
    if result.success:
        raise RuntimeError(f"the failing canary {version} was promoted")
    progress(f"{version}: {failure_message(result).splitlines()[0][:160]}")
    return timeline(answers, version)


def pipeline_promote(version: str, workers: int) -> dict:
    with load(workers) as answers:
        result = release(version, "main", FAST)
    if not result.success:
        raise RuntimeError(f"{version} was not promoted: {failure_message(result)}")
    figures = timeline(answers, version)
    figures["failed"] = sum(1 for answer in answers if answer[1] != 200)
    return figures


# --- the seed's procedure, by hand ---------------------------------------------------


def seed_abort(version: str, image: str, workers: int) -> dict:
    """10 % to a failing canary, then (instead of 300 s) one query and the switch back."""
    lb, docker_engine = nginx(), runtime()
    prometheus = PrometheusResource(url=os.environ["PROMETHEUS_URL"])
    state = lb.read_state(SERVICE)
    stable = docker_engine.find(docker_engine.container_name(SERVICE, "stable"), PORT)
    labels = {f"release_pipeline.{k}": v for k, v in (("service", SERVICE), ("version", version))}
    canary = docker_engine.run(
        image,
        name=docker_engine.container_name(SERVICE, "seed"),
        port=PORT,
        labels={**labels, "release_pipeline.color": "canary"},
        env={"APP_VERSION": version, "APP_COLOR": "canary", "ML_ERROR_RATE": "20"},
    )
    scraped = {"service": SERVICE, "track": "canary", "version": version}
    try:
        wait_until_scraped(prometheus, scraped, 60)
        with load(workers) as answers:
            lb.apply(SERVICE, [Backend(stable.address, 90), Backend(canary.address, 10)], {})
            time.sleep(BASELINE_TRAFFIC_SECONDS)  # the seed sleeps 300 s here
            queried_at = time.time()
            literal = prometheus.query(SEED_QUERY)
            fixed = prometheus.query(SEED_QUERY_FIXED)
            lb.apply(SERVICE, [Backend(stable.address)], header_facts(state, canary_weight=0))
            switched_at = time.time()
            time.sleep(BASELINE_TRAFFIC_SECONDS)
    finally:
        lb.apply(SERVICE, [Backend(stable.address)], header_facts(state, canary_weight=0))
        docker_engine.remove(canary.name)
    figures = timeline(answers, version)
    return {
        **figures,
        # By the benchmark's own clock, until nginx was told to reload. The answers give a
        # second view, but at 10 % of the traffic the last canary answer can come a few tens
        # of ms before the query, so that one can even be negative.
        "query_and_switch_s": switched_at - queried_at,
        "back_on_stable_after_query_s": figures["back_on_stable_at"] - queried_at,
        "literal_query_result": [sample.raw for sample in literal] or "empty: the seed reads 0",
        # After a few seconds of traffic, not 300: a figure of the mechanics, not a verdict.
        "fixed_query_errors_per_s": [sample.value for sample in fixed],
    }


# --- the run -------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def measure(runs: int, workers: int) -> dict:
    stamp = datetime.now(UTC).strftime("%H%M%S")
    env = dict(os.environ)
    commit_to_branch(env, "failing", {"apps/ml-engine/config/runtime.env": FAILING_ENV})
    first = release(f"{stamp}.0", "main", FAST)
    if not first.success:
        raise RuntimeError(failure_message(first))
    image = nginx().read_state(SERVICE).get("image")

    with load(workers) as rest_answers:
        time.sleep(20)
    rest = timeline(rest_answers, "none")
    rest_rate = rest["sent"] / rest["seconds"]
    progress(
        f"at rest: {rest['sent']} sent in {rest['seconds']:.0f} s, {rest['other_failed']} failed"
    )

    seed = seed_abort(f"{stamp}.seed", image, workers)
    progress(f"seed procedure by hand: query + switch {seed['query_and_switch_s']:.2f} s")
    results = {"runs": runs, "workers": workers, "rest": rest, "seed": seed, "rest_rate": rest_rate}
    for name, analysis in (("catalog", {}), ("fast", FAST)):
        aborts = [pipeline_abort(f"{stamp}.{name}{n}", analysis, workers) for n in range(runs)]
        progress(f"abort, {name} analysis: {[round(a['latency_s'], 1) for a in aborts]} s")
        results[f"abort_{name}"] = aborts
    promotes = [pipeline_promote(f"{stamp}.ok{n}", workers) for n in range(runs)]
    progress(
        f"promote: failed {[p['failed'] for p in promotes]} of {[p['sent'] for p in promotes]}"
    )
    results["promote"] = promotes
    return results


def failing_canary_error_rate(results: dict) -> float:
    """The failing image's share of 500s, over every answer it gave in this run.

    The seed's few seconds alone give a few dozen answers, too few for a rate.
    """
    failing = [results["seed"], *results["abort_catalog"], *results["abort_fast"]]
    answers = sum(figures["canary_answers"] for figures in failing)
    return sum(figures["canary_failed"] for figures in failing) / max(1, answers)


def report(results: dict) -> str:
    seed, rest = results["seed"], results["rest"]
    seed_latency = SEED_WAIT_SECONDS + seed["query_and_switch_s"]
    canary_error_rate = failing_canary_error_rate(results)
    seed_own = results["rest_rate"] * 0.10 * canary_error_rate * SEED_WAIT_SECONDS
    rows = [("figure", "ours", "baseline", "ours/baseline")]
    for name in ("catalog", "fast"):
        aborts = results[f"abort_{name}"]
        ours = median([a["latency_s"] for a in aborts])
        rows.append((f"abort latency, {name} analysis, median", f"{ours:.1f} s",
                     f"{seed_latency:.1f} s", f"{ours / seed_latency:.3f}"))  # fmt: skip
        own = median([a["canary_failed"] for a in aborts])
        rows.append((f"canary's own 500s per abort, {name}", f"{own:.0f}", f"{seed_own:.0f}",
                     f"{own / seed_own:.3f}"))  # fmt: skip
        rows.append((f"other failed requests, all aborts, {name}",
                     str(sum(a["other_failed"] for a in aborts)), "", ""))  # fmt: skip
    promotes = results["promote"]
    sent, failed = sum(p["sent"] for p in promotes), sum(p["failed"] for p in promotes)
    rate = sent / sum(p["seconds"] for p in promotes)
    rows.append(("promote: requests sent / failed, all runs", f"{sent} / {failed}",
                 f"{rest['sent']} / {rest['other_failed']} at rest", ""))  # fmt: skip
    rows.append(("promote: requests per second", f"{rate:.1f}", f"{results['rest_rate']:.1f}",
                 f"{rate / results['rest_rate']:.2f}"))  # fmt: skip
    width = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)) for row in rows]
    lines.append(f"seed's query as written, {SEED_QUERY!r}: {seed['literal_query_result']}")
    lines.append(f"the failing image's share of 500s, over this run: {canary_error_rate:.3f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--load", nargs=3, metavar=("URL", "WORKERS", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.load:
        asyncio.run(_load(args.load[0], int(args.load[1]), Path(args.load[2])))
        return 0

    RESULTS_DIR.mkdir(exist_ok=True)
    LOG_FILE.write_text("")
    with tempfile.TemporaryDirectory(prefix="bench-canary-") as state_dir:
        stack = Stack(Path(state_dir))
        try:
            progress(f"starting a sandbox in {state_dir}")
            os.environ.update(stack.start())
            results = measure(args.runs, args.workers)
        finally:
            progress("stopping the sandbox")
            stack.stop()
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
