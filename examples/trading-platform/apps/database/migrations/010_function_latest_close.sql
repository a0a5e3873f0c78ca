-- Last close of a symbol at or before a time (NULL when there is none).
CREATE FUNCTION market_data.latest_close(p_symbol TEXT, p_at TIMESTAMPTZ DEFAULT now())
RETURNS NUMERIC
LANGUAGE plpgsql STABLE AS $$
DECLARE
    result NUMERIC;
BEGIN
    SELECT close INTO result
    FROM market_data.ohlcv_5m
    WHERE symbol = p_symbol AND ts <= p_at
    ORDER BY ts DESC
    LIMIT 1;
    RETURN result;
END;
$$;
