"""Retrains the phase 2 models from candle ranges and writes the three model files.

    python3 -m app.train --data data/ranges_15m.csv --output models [--version 2.4.0]

The range predictors are least-squares lines, move = intercept + horizon_coef *
horizon, fitted over every symbol's observed high and low moves; each symbol's
reference price is its last close. The TP/SL classifier keeps its weights and
is re-stamped with the new version, so the three files always ship together.
"""

from __future__ import annotations

import argparse
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from app.predict import RANGE_HIGH, RANGE_LOW, TPSL, load_model, range_model_problems

DEFAULT_DATA = Path("data/ranges_15m.csv")
TIMEFRAME = "15m"


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise SystemExit(f"train: no rows in {path}")
    return rows


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares (intercept, slope) of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        raise SystemExit("train: every row has the same horizon; cannot fit a slope")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return mean_y - slope * mean_x, slope


def range_model(rows: list[dict[str, str]], target: str, version: str) -> dict:
    points = [(float(row["horizon"]), float(row[f"{target}_move"])) for row in rows]
    intercept, slope = fit_line(points)
    prices = {row["symbol"].upper(): float(row["close"]) for row in rows}
    return {
        "name": f"range_predictor_{TIMEFRAME}_{target}",
        "kind": "range_predictor",
        "target": target,
        "timeframe": TIMEFRAME,
        "version": version,
        "intercept": round(intercept, 6),
        "horizon_coef": round(slope, 7),
        "reference_prices": prices,
        "trained_on_rows": len(rows),
    }


def write_json(path: Path, model: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, required=True, help="model directory to write")
    parser.add_argument("--version", default=f"2.4.{datetime.now(UTC):%Y%m%d%H%M%S}")
    args = parser.parse_args(argv)

    rows = read_rows(args.data)
    models = {
        RANGE_HIGH: range_model(rows, "high", args.version),
        RANGE_LOW: range_model(rows, "low", args.version),
    }
    for relative, model in models.items():
        problems = range_model_problems(model)
        if problems:
            raise SystemExit(f"train: {relative} is not valid: {'; '.join(problems)}")
    tpsl = load_model(args.output / TPSL) | {"version": args.version}
    models[TPSL] = tpsl

    for relative, model in models.items():
        write_json(args.output / relative, model)
    print(f"train: wrote {len(models)} models, version {args.version}, from {len(rows)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
