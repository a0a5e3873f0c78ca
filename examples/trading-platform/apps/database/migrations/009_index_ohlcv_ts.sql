-- Latest-candle lookups across symbols scan by time. Plain CREATE INDEX (not
-- CONCURRENTLY) so the migration runs inside a transaction.
CREATE INDEX ohlcv_5m_ts_idx ON market_data.ohlcv_5m (ts DESC);
CREATE INDEX predictions_symbol_time_idx ON market_data.predictions (symbol, predicted_at DESC);
