"""app/train.py: retraining writes three valid models that the handler can serve."""

import shutil

from app.predict import MODEL_DIR, RANGE_HIGH, RANGE_LOW, TPSL, load_models, predict_range
from app.train import fit_line, main
from conftest import APP_ROOT


def test_fit_line_recovers_a_line():
    assert fit_line([(1, 3.0), (2, 5.0), (3, 7.0)]) == (1.0, 2.0)


def test_training_writes_three_valid_models_with_one_version(tmp_path):
    shutil.copytree(MODEL_DIR, tmp_path / "models")

    main(["--data", str(APP_ROOT / "data" / "ranges_15m.csv"), "--output",
          str(tmp_path / "models"), "--version", "2.4.7"])

    models = load_models(tmp_path / "models")
    assert {model["version"] for model in models.values()} == {"2.4.7"}
    assert sorted(p.relative_to(tmp_path / "models").as_posix()
                  for p in (tmp_path / "models").rglob("*.json")) == sorted([RANGE_HIGH, RANGE_LOW, TPSL])
    result = predict_range("BTCUSDT", 18, models["high"], models["low"])
    assert result["low"] < 64250.5 < result["high"]
