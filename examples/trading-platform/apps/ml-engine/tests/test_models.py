"""The model files the image ships: present, valid JSON, sane parameters."""

import json
import math

import pytest

from app.predict import MODEL_DIR, RANGE_HIGH, RANGE_LOW, TPSL, load_model, range_model_problems


@pytest.mark.parametrize("relative", [RANGE_HIGH, RANGE_LOW, TPSL])
def test_model_file_is_json_object(relative):
    path = MODEL_DIR / relative
    assert path.is_file(), f"missing model {relative}"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    assert data["timeframe"] == "15m"
    assert data["version"].count(".") == 2


@pytest.mark.parametrize("relative", [RANGE_HIGH, RANGE_LOW])
def test_range_models_are_valid(relative):
    assert range_model_problems(load_model(MODEL_DIR / relative)) == []


def test_range_models_cover_the_same_symbols():
    high = load_model(MODEL_DIR / RANGE_HIGH)
    low = load_model(MODEL_DIR / RANGE_LOW)
    assert high["target"] == "high" and low["target"] == "low"
    assert high["reference_prices"] == low["reference_prices"]
    assert "BTCUSDT" in high["reference_prices"]


def test_range_model_problems_are_reported():
    problems = range_model_problems(
        {"intercept": "x", "horizon_coef": math.nan, "reference_prices": {"btc": -1}}
    )
    assert len(problems) == 4


def test_tpsl_classifier_matches_its_name():
    model = load_model(MODEL_DIR / TPSL)
    # 15m_rr_2_1: a risk/reward of 2:1.
    assert model["risk_reward"] == 2.0
    assert 0 < model["threshold"] < 1
    assert set(model["weights"]) == {"range_width", "horizon"}
    assert all(isinstance(w, int | float) for w in model["weights"].values())


def test_no_stray_model_files():
    # /health reports models_loaded by counting the JSON files under models/.
    assert len(list(MODEL_DIR.rglob("*.json"))) == 3
