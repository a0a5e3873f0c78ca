"""server/handler.sh, run under busybox sh like in the image."""

from datetime import datetime, timezone

from app.sync import DEFAULT_SYMBOLS, parse_symbols, sync_status
from conftest import APP_ROOT

UTC = timezone.utc


def expected_status(env, before, after):
    """The Python rules' answer, at either end of the request (a boundary may pass)."""
    args = (
        parse_symbols(env.get("SYNC_SYMBOLS", DEFAULT_SYMBOLS)),
        int(env.get("BACKFILL_DAYS", 30)),
        int(env.get("SYNC_INTERVAL_MINUTES", 5)),
        env.get("APP_VERSION", "unknown"),
        env.get("SYNC_STATUS", "ok"),
    )
    return [sync_status(before, *args), sync_status(after, *args)]


def status_of(handler, env):
    before = datetime.now(UTC)
    answer = handler("GET", "/sync/status", env=env)
    after = datetime.now(UTC)
    assert answer.status == 200
    assert answer.json() in expected_status(env, before, after)
    return answer.json()


def test_sync_status_agrees_with_python(handler):
    body = status_of(handler, {"APP_VERSION": "2.0.0"})
    assert body["status"] == "ok"
    assert body["rows_synced"] == 5 * 30 * 288
    status_of(handler, {"SYNC_SYMBOLS": "BTCUSDT,,ETHUSDT", "BACKFILL_DAYS": "7",
                        "SYNC_INTERVAL_MINUTES": "60"})


def test_failed_sync_still_answers_200(handler):
    body = status_of(handler, {"SYNC_STATUS": "failed"})
    assert body["status"] == "failed"
    assert body["error"] == "polygon timeout"


def test_health(handler):
    answer = handler("GET", "/health", env={"APP_VERSION": "2.0.0", "APP_COLOR": "blue"})
    assert answer.status == 200
    body = answer.json()
    assert (body["status"], body["version"], body["color"]) == ("ok", "2.0.0", "blue")
    assert body["commit"] == "unknown"
    degraded = handler("GET", "/health", env={"HEALTH_STATUS": "degraded"})
    assert (degraded.status, degraded.json()["status"]) == (503, "degraded")
    starting = handler("GET", "/health", env={"STARTUP_DELAY_SECONDS": "60"})
    assert (starting.status, starting.json()["status"]) == (503, "starting")


def test_runtime_env_file_is_overridden_by_the_environment(handler, tmp_path):
    (tmp_path / "runtime.env").write_text("SYNC_STATUS=failed\nFAIL_RATE=100\n")
    assert handler("GET", "/sync/status").status == 500
    assert handler("GET", "/sync/status", env={"FAIL_RATE": "0"}).json()["status"] == "failed"
    env = {"FAIL_RATE": "0", "SYNC_STATUS": "ok"}
    assert handler("GET", "/sync/status", env=env).json()["status"] == "ok"


def test_proxy_knob_metrics_and_404(handler):
    env = {"FAIL_BEHIND_PROXY": "/sync/status"}
    proxied = {"X-Forwarded-For": "10.0.0.1"}
    assert handler("GET", "/sync/status", headers=proxied, env=env).status == 500
    assert handler("GET", "/sync/status", env=env).status == 200
    assert handler("GET", "/nope").status == 404
    metrics = handler("GET", "/metrics").body.splitlines()
    assert 'http_requests_total{code="500"} 1' in metrics
    assert 'http_requests_total{code="404"} 1' in metrics


def test_shipped_runtime_env_only_sets_known_knobs():
    # A release may turn a knob on to rehearse a failure, and must still pass
    # its unit tests, as a real bad release would; an unknown knob is a typo.
    lines = (APP_ROOT / "config" / "runtime.env").read_text().splitlines()
    knobs = {line.lstrip("# ").split("=")[0] for line in lines if "=" in line}
    assert knobs <= {"HEALTH_STATUS", "STARTUP_DELAY_SECONDS", "FAIL_RATE", "FAIL_BEHIND_PROXY",
                     "RESPONSE_DELAY_MS", "SYNC_STATUS", "SYNC_SYMBOLS"}
