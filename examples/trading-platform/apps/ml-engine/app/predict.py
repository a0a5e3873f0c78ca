"""Range prediction with the phase 2 models, in plain Python.

The image answers POST /predictions from server/handler.sh with the same
formula in busybox awk; tests/test_handler.py checks that both agree.

    move = intercept + horizon_coef * horizon
    high = price * (1 + move_high)        low = price * (1 - move_low)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

MODEL_DIR = Path(__file__).resolve().parent.parent / "models"
RANGE_HIGH = "phase2/range_predictor/15m/model_high.json"
RANGE_LOW = "phase2/range_predictor/15m/model_low.json"
TPSL = "phase2/tpsl_classifier/15m_rr_2_1.json"
MAX_HORIZON = 288  # 15m candles: three days ahead at most

Model = dict[str, Any]


class PredictionError(ValueError):
    """A request the models cannot answer (the service says 400)."""


def load_model(path: Path) -> Model:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def load_models(model_dir: Path = MODEL_DIR) -> dict[str, Model]:
    return {
        "high": load_model(model_dir / RANGE_HIGH),
        "low": load_model(model_dir / RANGE_LOW),
        "tpsl": load_model(model_dir / TPSL),
    }


def range_model_problems(model: Model) -> list[str]:
    """What is wrong with a range predictor's parameters (empty when valid)."""
    problems = []
    for field in ("intercept", "horizon_coef"):
        value = model.get(field)
        if not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(f"{field} must be a finite number, got {value!r}")
    prices = model.get("reference_prices")
    if not isinstance(prices, dict) or not prices:
        problems.append("reference_prices must be a non-empty mapping")
    else:
        for symbol, price in prices.items():
            if not symbol.isalnum() or symbol != symbol.upper():
                problems.append(f"symbol {symbol!r} must be upper case letters and digits")
            if not isinstance(price, int | float) or price <= 0:
                problems.append(f"price of {symbol} must be positive, got {price!r}")
    return problems


def predict_range(symbol: str, horizon: int, high: Model, low: Model) -> dict[str, Any]:
    """The expected high and low of `symbol` over `horizon` 15m candles."""
    symbol = symbol.upper()
    if not 1 <= horizon <= MAX_HORIZON:
        raise PredictionError(f"horizon must be 1..{MAX_HORIZON}")
    if symbol not in high["reference_prices"] or symbol not in low["reference_prices"]:
        raise PredictionError(f"no model for symbol {symbol}")
    move_high = high["intercept"] + high["horizon_coef"] * horizon
    move_low = low["intercept"] + low["horizon_coef"] * horizon
    return {
        "symbol": symbol,
        "horizon": horizon,
        # Four decimals, like the handler's printf "%.4f".
        "high": round_like_printf(high["reference_prices"][symbol] * (1 + move_high)),
        "low": round_like_printf(low["reference_prices"][symbol] * (1 - move_low)),
    }


def round_like_printf(value: float) -> float:
    return float(f"{value:.4f}")


def tp_probability(range_width: float, horizon: int, model: Model) -> float:
    """Probability that take-profit is hit before stop-loss (logistic model)."""
    weights = model["weights"]
    score = model["bias"] + weights["range_width"] * range_width + weights["horizon"] * horizon
    return 1 / (1 + math.exp(-score))
