"""app/predict.py: the formula the handler implements too."""

import pytest

from app.predict import MAX_HORIZON, PredictionError, load_models, predict_range, tp_probability

MODELS = load_models()


def test_btc_range_for_18_candles():
    # Fixed parameters, not the shipped files: retraining changes those.
    prices = {"BTCUSDT": 64250.5}
    high = {"intercept": 0.0011, "horizon_coef": 0.00012, "reference_prices": prices}
    low = {"intercept": 0.0013, "horizon_coef": 0.00011, "reference_prices": prices}
    result = predict_range("BTCUSDT", 18, high, low)
    # 64250.5 * (1 + 0.0011 + 0.00012 * 18) and 64250.5 * (1 - (0.0013 + 0.00011 * 18))
    assert result == {"symbol": "BTCUSDT", "horizon": 18, "high": 64459.9566, "low": 64039.7584}


def test_symbol_is_case_insensitive():
    assert predict_range("ethusdt", 6, MODELS["high"], MODELS["low"])["symbol"] == "ETHUSDT"


def test_range_widens_with_the_horizon():
    short = predict_range("XAUUSD", 6, MODELS["high"], MODELS["low"])
    long = predict_range("XAUUSD", 72, MODELS["high"], MODELS["low"])
    assert long["low"] < short["low"] < short["high"] < long["high"]


@pytest.mark.parametrize("horizon", [0, -1, MAX_HORIZON + 1])
def test_horizon_out_of_range(horizon):
    with pytest.raises(PredictionError, match="horizon"):
        predict_range("BTCUSDT", horizon, MODELS["high"], MODELS["low"])


def test_unknown_symbol():
    with pytest.raises(PredictionError, match="DOGEUSDT"):
        predict_range("DOGEUSDT", 18, MODELS["high"], MODELS["low"])


def test_tp_probability_is_a_probability_that_grows_with_the_range():
    narrow = tp_probability(0.001, 18, MODELS["tpsl"])
    wide = tp_probability(0.02, 18, MODELS["tpsl"])
    assert 0 < narrow < wide < 1
