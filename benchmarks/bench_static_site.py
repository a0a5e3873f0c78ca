"""Static site switch benchmark (frontend_release) on a sandbox of its own; ratios to a baseline.

Time from publish to every answer serving the new build, and answers that fail or mix
builds, against the naive in-place switch: the new dist copied over the served folder
file by file, as `cp -r dist/. live/` does. Both are watched by the same poller.

Run: .venv/bin/python benchmarks/bench_static_site.py [--releases N]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx

from release_pipeline.assets import site_key
from release_pipeline.catalog import default_catalog
from release_pipeline.resources.site_directory import DirectorySite
from sandbox import Stack

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULTS_JSON = RESULTS_DIR / "static_site.json"
LOG_FILE = RESULTS_DIR / "static_site.log"

JOB = "frontend_release"
SITE = "frontend"
PUBLISH_STEP = "publish_site"
PUBLISHED_MESSAGE = f"Published {SITE} "
HEALTH_PATH = "/health"
PAGE_PATH = "/"
BUILD_ID = re.compile(r'<meta name="app-version" content="([^"]*)"')
ASSET = re.compile(r'(?:src|href)="(/assets/[^"]+)"')
# Each build gets its own stylesheet line, so its content-hashed asset names are its own.
STYLE_FILE = "src/style.css"
MARKER = "/* bench build {version} */\n"
BASELINE_DEPLOYMENT = ".bench-in-place"  # a dot: the publisher neither lists nor prunes it
GIT_AUTHOR = ["-c", "user.name=bench", "-c", "user.email=bench@release.invalid"]

DEFAULT_RELEASES = 3
REQUEST_TIMEOUT_SECONDS = 2.0
POLL_MAX_SECONDS = 600.0
POLLER_STOP_TIMEOUT_SECONDS = 30.0
BEFORE_COPY_SECONDS = 0.5  # baseline: old-build answers recorded before the copy starts
SETTLE_SECONDS = 1.0  # the answers after the switch must span this long, all new
POLL_AFTER_SECONDS = 1.5  # polling goes on this long after the release or the copy
BUILD_TIMEOUT_SECONDS = 120


class BenchmarkError(RuntimeError):
    """A step of the benchmark did not do what it measures."""


# --- plumbing -------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.__stderr__, flush=True)


@contextlib.contextmanager
def sandbox() -> Iterator[dict[str, str]]:
    """A sandbox of our own in a temp dir; its variables are in os.environ while it runs."""
    with tempfile.TemporaryDirectory(prefix="bench-static-site-") as state_dir:
        stack = Stack(Path(state_dir))
        try:
            progress(f"starting a sandbox in {state_dir}")
            env = stack.start()
            os.environ.update(env)
            yield env
        finally:
            progress("stopping the sandbox")
            stack.stop()


@contextlib.contextmanager
def logged(title: str) -> Iterator[None]:
    """Sends what a release prints (npm, dagster) to the log file."""
    with (
        LOG_FILE.open("a") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        print(f"\n===== {title} =====", flush=True)
        yield


_counter = itertools.count(1)
_stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def next_version(kind: str) -> str:
    """A version string no other release of this run uses."""
    return f"{_stamp}.{next(_counter)}-{kind}"


def site_url() -> str:
    urls = dict(pair.split("=", 1) for pair in os.environ["LB_URLS"].split(","))
    return urls[SITE]


def publisher() -> DirectorySite:
    return DirectorySite(sites_dir=os.environ["SITES_DIR"])


def app_dir() -> Path:
    """The frontend's sources in the sandbox's git repository (branch main checked out)."""
    return Path(os.environ["RELEASE_GIT_URL"]) / default_catalog().service(SITE).source_dir


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- the poller -----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    sent: float  # wall clock
    path: str
    status: int | None  # None: no complete answer (refused, reset, truncated, timeout)
    version: str | None  # the build it carries, None when unreadable


@dataclass(frozen=True)
class AssetMiss:
    """An asset the page named that the site did not serve."""

    sent: float
    page_version: str | None
    asset: str
    status: int | None


def fetch(client: httpx.Client, url: str) -> tuple[int | None, str]:
    try:
        response = client.get(url)
        return response.status_code, response.text
    except httpx.HTTPError:
        return None, ""


def health_version(text: str) -> str | None:
    with contextlib.suppress(ValueError, AttributeError):
        return json.loads(text).get("version")
    return None


def page_version(text: str) -> str | None:
    match = BUILD_ID.search(text)
    return match.group(1) if match else None


@dataclass
class SitePoller:
    """As fast as it can: /health, then / and the assets the page names.

    Every request is on a new connection, like a new visitor.
    """

    base_url: str
    answers: list[Answer] = field(default_factory=list)
    misses: list[AssetMiss] = field(default_factory=list)

    def run(self, stopped: Callable[[], bool]) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        deadline = time.monotonic() + POLL_MAX_SECONDS
        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as client:
            while not stopped() and time.monotonic() < deadline:
                self._ask(client, HEALTH_PATH, health_version)
                page = self._ask(client, PAGE_PATH, page_version)
                self._check_assets(client, page)

    def _ask(self, client: httpx.Client, path: str, reader: Callable[[str], str | None]):
        sent = time.time()
        status, text = fetch(client, self.base_url + path)
        self.answers.append(Answer(sent, path, status, reader(text) if status == 200 else None))
        return text if status == 200 else ""

    def _check_assets(self, client: httpx.Client, page: str) -> None:
        version = page_version(page)
        for asset in ASSET.findall(page):
            sent = time.time()
            status, _ = fetch(client, self.base_url + asset)
            if status != 200:
                self.misses.append(AssetMiss(sent, version, asset, status))


def poll_until_terminated(url: str) -> None:
    """The poller process (``--poll URL``): prints ready, polls until SIGTERM, prints JSON."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    poller = SitePoller(url)
    print("ready", flush=True)
    poller.run(stop.is_set)
    answers = [asdict(answer) for answer in poller.answers]
    print(json.dumps({"answers": answers, "misses": [asdict(m) for m in poller.misses]}))


class PollerProcess:
    """The poller in a process of its own, so it shares no GIL with the release or the copy."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[Answer] = []
        self.misses: list[AssetMiss] = []

    def __enter__(self) -> PollerProcess:
        command = [sys.executable, str(Path(__file__).resolve()), "--poll", self.url]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            self.process.kill()
            raise BenchmarkError("the poller process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=POLLER_STOP_TIMEOUT_SECONDS)
        polled = json.loads(output.strip().splitlines()[-1])
        self.answers = [Answer(**answer) for answer in polled["answers"]]
        self.misses = [AssetMiss(**miss) for miss in polled["misses"]]


def switched_at(answers: list[Answer], version: str) -> float:
    """Send time of the first answer after which every answer carries ``version``.

    Those answers must span SETTLE_SECONDS, else the site had not settled when polling ended.
    """
    others = [index for index, answer in enumerate(answers) if answer.version != version]
    first_new = others[-1] + 1 if others else 0
    if first_new >= len(answers) or answers[-1].sent - answers[first_new].sent < SETTLE_SECONDS:
        raise BenchmarkError(f"the site did not settle on build {version}")
    return answers[first_new].sent


def poll_interval_ms(answers: list[Answer]) -> float:
    """Mean time between two answers (health or page): the resolution of the switch time."""
    if len(answers) < 2:
        return float("nan")
    return 1000 * (answers[-1].sent - answers[0].sent) / (len(answers) - 1)


def answer_counts(poller: PollerProcess, version: str) -> dict:
    """Failed answers, unreadable pages and asset misses, by what they mean."""
    answers, misses = poller.answers, poller.misses
    statuses = {str(answer.status) for answer in answers if answer.status != 200}
    return {
        "answers": len(answers),
        "failed": sum(answer.status != 200 for answer in answers),
        "unreadable": sum(answer.status == 200 and answer.version is None for answer in answers),
        "mixed_new_page_missing_assets": sum(miss.page_version == version for miss in misses),
        "old_page_assets_gone": sum(miss.page_version != version for miss in misses),
        "failed_statuses": sorted(statuses),
        "poll_interval_ms": poll_interval_ms(answers),
    }


# --- ours: frontend_release -----------------------------------------------------------


def commit_marker(version: str) -> None:
    """Commits a stylesheet line naming ``version`` on main of the sandbox's repository."""
    write_marker(app_dir(), version)
    repo = ["git", "-C", os.environ["RELEASE_GIT_URL"], *GIT_AUTHOR]
    subprocess.run([*repo, "commit", "-qam", f"bench build {version}"], check=True)


def write_marker(source: Path, version: str) -> None:
    style = source / STYLE_FILE
    lines = [line for line in style.read_text().splitlines(True) if "bench build" not in line]
    style.write_text("".join(lines) + MARKER.format(version=version))


def run_release(version: str) -> tuple[dg.DagsterInstance, object]:
    """Runs frontend_release in process on a new commit; returns its instance and result."""
    from release_pipeline.definitions import defs  # after the sandbox's env is in os.environ

    commit_marker(version)
    instance = dg.DagsterInstance.ephemeral()
    config = {"ops": {"checkout": {"config": {"git_ref": "main", "version": version}}}}
    with logged(f"{JOB} {version}"):
        result = defs.resolve_job_def(JOB).execute_in_process(
            run_config=config, instance=instance, raise_on_error=False
        )
    if not result.success:
        raise BenchmarkError(f"{JOB} {version} failed: {failure_message(result)}")
    return instance, result


def failure_message(result) -> str:
    messages = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        user = data.user_failure_data
        messages.append(user.description if user and user.description else str(data.error))
    return " | ".join(messages) or f"see {LOG_FILE}"


def publish_times(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float]:
    """Wall clock of the publish_site step's start and of its "Published ..." log entry."""
    step_start = published = None
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event and event.step_key == PUBLISH_STEP and event.is_step_start:
            step_start = entry.timestamp
        if (entry.user_message or "").startswith(PUBLISHED_MESSAGE):
            published = entry.timestamp
    if step_start is None or published is None:
        raise BenchmarkError(f"run {run_id} logged no {PUBLISH_STEP} start or publish")
    return step_start, published


def reported_switch_seconds(result) -> float:
    for event in result.get_asset_materialization_events():
        if event.asset_key == site_key(SITE):
            return float(event.materialization.metadata["switch_seconds"].value)
    raise BenchmarkError("the run recorded no site")


def pipeline_switch(version: str) -> dict:
    """One release under the poller: publish_site start -> every answer from the new build."""
    with PollerProcess(site_url()) as poller:
        instance, result = run_release(version)
        time.sleep(POLL_AFTER_SECONDS)
    step_start, published = publish_times(instance, result.run_id)
    end = switched_at(poller.answers, version)
    return {
        "seconds": end - step_start,
        "from_published_seconds": end - published,
        "reported_switch_seconds": reported_switch_seconds(result),
        **answer_counts(poller, version),
    }


# --- baseline: the new dist copied over the live folder -------------------------------


def build_by_hand(version: str, work: Path) -> Path:
    """The frontend's build (scripts/build.js, the catalog's VITE_* values) into work/dist."""
    service = default_catalog().service(SITE)
    source = work / "src"
    shutil.copytree(app_dir(), source, ignore=shutil.ignore_patterns("node_modules", "dist"))
    write_marker(source, version)
    env = {**os.environ, **service.env, "RELEASE_VERSION": version, "OUT_DIR": str(work / "dist")}
    env.update({name: os.environ.get(name, "") for name in service.build_secrets})
    with LOG_FILE.open("a") as log:
        print(f"\n===== build by hand {version} =====", file=log, flush=True)
        subprocess.run(
            ["node", "scripts/build.js"], cwd=source, env=env, stdout=log,
            stderr=subprocess.STDOUT, check=True, timeout=BUILD_TIMEOUT_SECONDS,
        )  # fmt: skip
    return work / "dist"


def copy_like_cp(
    source: Path, target: Path, written: dict[str, tuple[float, float]], prefix: str = ""
) -> None:
    """Copies a tree as `cp -r source/. target/` does: directory order, files in place.

    An existing file is truncated and rewritten where it is (no temporary name), so
    nginx can read it half written. ``written`` gets each file's (start, end) clock.
    """
    target.mkdir(exist_ok=True)
    with os.scandir(source) as entries:
        for entry in entries:
            name = prefix + entry.name
            if entry.is_dir():
                copy_like_cp(Path(entry.path), target / entry.name, written, f"{name}/")
                continue
            started = time.time()
            shutil.copyfile(entry.path, target / entry.name)
            written[name] = (started, time.time())


def live_dir() -> Path:
    return Path(os.environ["SITES_DIR"]) / SITE / "deployments" / BASELINE_DEPLOYMENT


@contextlib.contextmanager
def served_in_place() -> Iterator[Path]:
    """A copy of the live deployment served as production, put back afterwards."""
    site = publisher()
    live = site.live(SITE)
    folder = live_dir()
    shutil.copytree(folder.with_name(live), folder)
    site.activate(SITE, BASELINE_DEPLOYMENT)  # the same files: nothing visible changes
    try:
        yield folder
    finally:
        site.activate(SITE, live)
        shutil.rmtree(folder)


def exposure(dist: Path, written: dict[str, tuple[float, float]]) -> dict:
    """How long the folder held what no single build holds, from the copy's own clock."""
    page_end = written["index.html"][1]
    assets = ASSET.findall((dist / "index.html").read_text())
    assets_end = max(written[asset.lstrip("/")][1] for asset in assets)
    return {
        "copy_ms": 1000 * (max(end for _, end in written.values()) - min(written.values())[0]),
        "new_page_missing_assets_ms": 1000 * max(0.0, assets_end - page_end),
        "page_and_health_differ_ms": 1000 * abs(written["health"][1] - page_end),
        "page_rewrite_ms": 1000 * (page_end - written["index.html"][0]),
        "copy_order": sorted(written, key=lambda name: written[name][0]),
    }


def in_place_switch(version: str) -> dict:
    """The naive switch under the same poller: copy start -> every answer from the new build."""
    with tempfile.TemporaryDirectory(prefix="bench-static-build-") as work:
        dist = build_by_hand(version, Path(work))
        written: dict[str, tuple[float, float]] = {}
        with served_in_place() as folder, PollerProcess(site_url()) as poller:
            time.sleep(BEFORE_COPY_SECONDS)
            started = time.time()
            copy_like_cp(dist, folder, written)
            time.sleep(POLL_AFTER_SECONDS)
        window = exposure(dist, written)
    return {
        "seconds": switched_at(poller.answers, version) - started,
        **answer_counts(poller, version),
        **window,
    }


# --- the figures ----------------------------------------------------------------------


def measured_pairs(releases: int) -> dict:
    """N releases by the pipeline, each followed by one in-place copy."""
    ours, baseline = [], []
    for run in range(1, releases + 1):
        ours.append(pipeline_switch(next_version("site")))
        baseline.append(in_place_switch(next_version("cp")))
        progress(
            f"{run}/{releases}: ours {ours[-1]['seconds']:.3f} s"
            f" ({ours[-1]['failed']} failed, {ours[-1]['mixed_new_page_missing_assets']} mixed);"
            f" in place {baseline[-1]['seconds']:.3f} s ({baseline[-1]['failed']} failed,"
            f" {baseline[-1]['mixed_new_page_missing_assets']} mixed)"
        )
    return {"ours": ours, "baseline": baseline}


COUNTED = ("answers", "failed", "unreadable", "mixed_new_page_missing_assets")
COUNTED += ("old_page_assets_gone",)


def summarize(pairs: dict) -> dict:
    ours, baseline = pairs["ours"], pairs["baseline"]

    def middle(samples: list[dict], key: str) -> float:
        return median([sample[key] for sample in samples])

    summary = {
        "ours_median_s": middle(ours, "seconds"),
        "ours_from_published_median_s": middle(ours, "from_published_seconds"),
        "reported_switch_seconds_median": middle(ours, "reported_switch_seconds"),
        "baseline_median_s": middle(baseline, "seconds"),
        "poll_interval_ms_median": middle(ours + baseline, "poll_interval_ms"),
        "baseline_copy_ms_median": middle(baseline, "copy_ms"),
        "baseline_new_page_missing_assets_ms_median": middle(
            baseline, "new_page_missing_assets_ms"
        ),
        "baseline_page_and_health_differ_ms_median": middle(baseline, "page_and_health_differ_ms"),
    }
    summary["ratio"] = summary["ours_median_s"] / summary["baseline_median_s"]
    summary["ratio_from_published"] = (
        summary["ours_from_published_median_s"] / summary["baseline_median_s"]
    )
    for side, samples in (("ours", ours), ("baseline", baseline)):
        summary[f"{side}_counts"] = {key: sum(s[key] for s in samples) for key in COUNTED}
    return summary


def run_benchmarks(releases: int) -> dict:
    progress("warm-up: one release by the pipeline makes a build live (not timed)")
    run_release(next_version("warmup"))
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "releases": releases,
    }
    results["runs"] = measured_pairs(releases)
    results["summary"] = summarize(results["runs"])
    results["load_average_1m_end"] = os.getloadavg()[0]
    return results


# --- report ---------------------------------------------------------------------------


def report(results: dict) -> str:
    summary = results["summary"]
    ours, base = summary["ours_counts"], summary["baseline_counts"]
    rows = [
        ("figure", "ours", "baseline", "ours/baseline"),
        ("switch time, median (from publish start)", f"{summary['ours_median_s']:.3f} s",
         f"{summary['baseline_median_s']:.3f} s", f"{summary['ratio']:.2f}"),
        ("  ours from the 'Published' log entry",
         f"{summary['ours_from_published_median_s']:.3f} s",
         "", f"{summary['ratio_from_published']:.2f}"),
        ("answers (health + page), all runs", str(ours["answers"]), str(base["answers"]), ""),
        ("  failed (not 200 or cut short)", str(ours["failed"]), str(base["failed"]), ""),
        ("  200 without a build id", str(ours["unreadable"]), str(base["unreadable"]), ""),
        ("mixed: new page, its assets missing", str(ours["mixed_new_page_missing_assets"]),
         str(base["mixed_new_page_missing_assets"]), ""),
        ("old page, its assets gone", str(ours["old_page_assets_gone"]),
         str(base["old_page_assets_gone"]), ""),
    ]  # fmt: skip
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join([*lines, "", *notes(results)])


def notes(results: dict) -> list[str]:
    summary = results["summary"]
    return [
        f"{results['date']}, {results['cores']} cores, {results['releases']} releases per median;"
        f" 1 min load average {results['load_average_1m_start']:.1f} at the start,"
        f" {results['load_average_1m_end']:.1f} at the end.",
        f"start: ours = {PUBLISH_STEP} step start (includes the copy into a new deployment);"
        " baseline = start of the copy. End = send time of the first answer after which"
        " every /health and / answer carries the new build.",
        f"poller: a process of its own, /health then / then the page's assets, a new"
        " connection each;"
        f" {summary['poll_interval_ms_median']:.1f} ms between answers (the resolution).",
        "ours: the pipeline's own switch_seconds (activate -> 5 confirmations): median"
        f" {summary['reported_switch_seconds_median']:.3f} s.",
        "baseline, from the copy's own clock (medians): whole copy"
        f" {summary['baseline_copy_ms_median']:.2f} ms; new index.html with an asset not yet"
        f" written {summary['baseline_new_page_missing_assets_ms_median']:.2f} ms; /health and"
        f" / from different builds {summary['baseline_page_and_health_differ_ms_median']:.2f} ms.",
        "   A window shorter than the poller's resolution is rarely seen by it, and a figure"
        " under the resolution is the resolution: read the ratio with that in mind.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=DEFAULT_RELEASES, help="runs per median")
    parser.add_argument("--poll", metavar="URL", help=argparse.SUPPRESS)  # the poller process
    args = parser.parse_args()
    if args.poll:
        poll_until_terminated(args.poll)
        return
    if args.releases < 1:
        parser.error("--releases must be at least 1")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    LOG_FILE.write_text("")
    progress(f"logs of every release: {LOG_FILE}")
    load_before = os.getloadavg()[0]  # other work on the machine makes the figures noisy
    with sandbox():
        results = run_benchmarks(args.releases)
    results = {"load_average_1m_start": load_before, **results}
    print(report(results))
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {RESULTS_JSON}")


if __name__ == "__main__":
    main()
