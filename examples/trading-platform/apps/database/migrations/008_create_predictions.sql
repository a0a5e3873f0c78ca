-- Range predictions served by the ML engine, kept to measure their accuracy.
CREATE TABLE market_data.predictions (
    id            BIGSERIAL PRIMARY KEY,
    symbol        TEXT NOT NULL REFERENCES market_data.symbols (symbol),
    horizon       INTEGER NOT NULL CHECK (horizon BETWEEN 1 AND 288),
    predicted_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    high          NUMERIC(20, 8) NOT NULL,
    low           NUMERIC(20, 8) NOT NULL,
    model_version TEXT NOT NULL,
    CHECK (low <= high)
);
