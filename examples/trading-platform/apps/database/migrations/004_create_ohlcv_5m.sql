-- 5 minute candles, one row per symbol and bucket start.
CREATE TABLE market_data.ohlcv_5m (
    symbol TEXT          NOT NULL REFERENCES market_data.symbols (symbol),
    ts     TIMESTAMPTZ   NOT NULL,
    open   NUMERIC(20, 8) NOT NULL,
    high   NUMERIC(20, 8) NOT NULL,
    low    NUMERIC(20, 8) NOT NULL,
    close  NUMERIC(20, 8) NOT NULL,
    volume NUMERIC(28, 8) NOT NULL DEFAULT 0,
    PRIMARY KEY (symbol, ts),
    CHECK (low <= open AND low <= close AND high >= open AND high >= close)
);
