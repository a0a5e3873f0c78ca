-- Idempotent write of one candle, used by the data service's sync.
CREATE FUNCTION market_data.upsert_candle(
    p_symbol TEXT, p_ts TIMESTAMPTZ,
    p_open NUMERIC, p_high NUMERIC, p_low NUMERIC, p_close NUMERIC, p_volume NUMERIC
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO market_data.ohlcv_5m AS c (symbol, ts, open, high, low, close, volume)
    VALUES (p_symbol, date_bin('5 minutes', p_ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
            p_open, p_high, p_low, p_close, p_volume)
    ON CONFLICT (symbol, ts) DO UPDATE
    SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
        close = EXCLUDED.close, volume = EXCLUDED.volume;
END;
$$;
