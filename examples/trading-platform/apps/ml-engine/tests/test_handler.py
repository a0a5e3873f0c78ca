"""server/handler.sh, run under busybox sh like in the image."""

import shutil
import subprocess

from app.predict import load_models, predict_range
from conftest import APP_ROOT

BTC = {"symbol": "BTCUSDT", "horizon": 18}


def test_health_reports_models_and_track(handler):
    answer = handler("GET", "/health", env={"APP_VERSION": "3.1.0", "APP_COLOR": "canary"})
    assert answer.status == 200
    assert answer.json() == {
        "status": "ok", "gpu": False, "models_loaded": 3,
        "models_version": load_models()["high"]["version"], "version": "3.1.0", "track": "canary",
    }


def test_prediction_agrees_with_python(handler):
    models = load_models()
    for symbol, horizon in [("BTCUSDT", 18), ("EURUSD", 288), ("XAUUSD", 1)]:
        answer = handler("POST", "/predictions", {"symbol": symbol, "horizon": horizon},
                         env={"APP_VERSION": "3.1.0"})
        assert answer.status == 200, answer.body
        expected = predict_range(symbol, horizon, models["high"], models["low"])
        assert answer.json() == {**expected, "version": "3.1.0"}


def test_api_key(handler):
    env = {"ML_API_KEY": "secret"}
    assert handler("POST", "/predictions", BTC, env=env).status == 401
    assert handler("POST", "/predictions", BTC, {"X-API-Key": "wrong"}, env).status == 401
    assert handler("POST", "/predictions", BTC, {"X-API-Key": "secret"}, env).status == 200
    # API_KEY, when set, is the one that counts.
    env = {"ML_API_KEY": "secret", "API_KEY": "other"}
    assert handler("POST", "/predictions", BTC, {"X-API-Key": "other"}, env).status == 200


def test_bad_requests(handler):
    assert handler("POST", "/predictions", {"symbol": "BTCUSDT"}).status == 400
    assert handler("POST", "/predictions", {"symbol": "DOGEUSDT", "horizon": 6}).status == 400
    assert handler("POST", "/predictions", {"symbol": "BTCUSDT", "horizon": 999}).status == 400
    limited = {"SUPPORTED_SYMBOLS": "ETHUSDT,EURUSD"}
    assert handler("POST", "/predictions", BTC, env=limited).status == 400
    assert handler("GET", "/predictions").status == 405
    assert handler("GET", "/nope").status == 404


def test_ml_error_rate_and_metrics(handler):
    assert handler("POST", "/predictions", BTC).status == 200
    failed = handler("POST", "/predictions", BTC, env={"ML_ERROR_RATE": "100"})
    assert failed.status == 500
    assert handler("POST", "/predictions", BTC, {"X-API-Key": "wrong"}, {"ML_API_KEY": "k"}).status == 401
    metrics = handler("GET", "/metrics", env={"APP_VERSION": "3.1.0"}).body.splitlines()
    assert "ml_prediction_requests_total 2" in metrics, "a refused key is not a prediction request"
    assert "ml_predictions_total 1" in metrics
    assert "ml_prediction_errors_total 1" in metrics
    assert 'http_requests_total{code="500"} 1' in metrics
    assert 'app_info{version="3.1.0",color="none"} 1' in metrics


def test_prediction_counters_are_exact_under_concurrent_requests(handler, tmp_path):
    # nc forks one handler per connection; concurrent handlers must not lose counts.
    raw = 'POST /predictions HTTP/1.0\r\nContent-Length: {n}\r\n\r\n{body}'
    body = '{"symbol":"BTCUSDT","horizon":18}'
    request = raw.format(n=len(body), body=body).encode()
    env = {
        "PATH": "/usr/bin:/bin", "STATE_DIR": str(tmp_path), "ML_ERROR_RATE": "50",
        "RUNTIME_ENV": str(tmp_path / "none"), "MODEL_PATH": str(APP_ROOT / "models"),
    }
    script = str(APP_ROOT / "server" / "handler.sh")
    handlers = [
        subprocess.Popen([shutil.which("busybox"), "sh", script], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        for _ in range(40)
    ]
    for process in handlers:
        process.stdin.write(request)
        process.stdin.close()
    for process in handlers:
        process.wait(timeout=30)

    metrics = handler("GET", "/metrics").body.splitlines()
    counters = [line.split() for line in metrics if line.startswith("ml_") and "_total " in line]
    counts = {name: int(value) for name, value in counters}
    assert counts["ml_prediction_requests_total"] == 40
    assert counts["ml_predictions_total"] + counts["ml_prediction_errors_total"] == 40


def test_runtime_env_file_is_overridden_by_the_environment(handler, tmp_path):
    (tmp_path / "runtime.env").write_text("HEALTH_STATUS=degraded\nML_ERROR_RATE=100\n")
    unhealthy = handler("GET", "/health")
    assert (unhealthy.status, unhealthy.json()["status"]) == (503, "degraded")
    assert handler("GET", "/health", env={"HEALTH_STATUS": "ok"}).status == 200
    assert handler("POST", "/predictions", BTC).status == 500
    assert handler("POST", "/predictions", BTC, env={"ML_ERROR_RATE": "0"}).status == 200


def test_shared_knobs(handler):
    assert handler("POST", "/predictions", BTC, env={"FAIL_RATE": "100"}).status == 500
    assert handler("GET", "/health", env={"FAIL_RATE": "100"}).status == 200
    proxied = {"X-Forwarded-For": "10.0.0.1"}
    env = {"FAIL_BEHIND_PROXY": "/predictions"}
    assert handler("POST", "/predictions", BTC, proxied, env).status == 500
    assert handler("POST", "/predictions", BTC, env=env).status == 200


def test_shipped_runtime_env_only_sets_known_knobs():
    # A release may turn a knob on to rehearse a failure (a canary failing 20 %
    # of predictions) and must still pass its unit tests, as a real bad release
    # would; an unknown knob is a typo.
    lines = (APP_ROOT / "config" / "runtime.env").read_text().splitlines()
    knobs = {line.lstrip("# ").split("=")[0] for line in lines if "=" in line}
    assert knobs <= {"HEALTH_STATUS", "STARTUP_DELAY_SECONDS", "FAIL_RATE", "FAIL_BEHIND_PROXY",
                     "RESPONSE_DELAY_MS", "ML_ERROR_RATE",
                     "ML_PREDICTION_DELAY_MS"}


def test_in_image_prediction_check(handler, tmp_path):
    # test_prediction.sh runs handler.sh through `sh`: make that busybox's, as in the image.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sh").symlink_to(shutil.which("busybox"))
    done = subprocess.run(
        ["busybox", "sh", str(APP_ROOT / "server" / "test_prediction.sh")],
        capture_output=True, text=True, timeout=20,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "MODEL_PATH": str(APP_ROOT / "models")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("test_prediction: ok")


def test_prediction_time_histogram(handler):
    authorised = {"X-API-Key": "k"}
    env = {"ML_API_KEY": "k", "ML_PREDICTION_DELAY_MS": "300"}
    assert handler("POST", "/predictions", BTC, authorised, env).status == 200
    assert handler("POST", "/predictions", BTC, {"X-API-Key": "wrong"}, env).status == 401
    metrics = handler("GET", "/metrics").body.splitlines()
    assert "ml_prediction_duration_seconds_count 1" in metrics, "a refused key is not timed"
    assert 'ml_prediction_duration_seconds_bucket{le="0.2"} 0' in metrics
    assert 'ml_prediction_duration_seconds_bucket{le="0.5"} 1' in metrics
    assert 'ml_prediction_duration_seconds_bucket{le="+Inf"} 1' in metrics
    [total] = [line for line in metrics if line.startswith("ml_prediction_duration_seconds_sum")]
    assert 0.29 <= float(total.split()[1]) < 0.5
