-- The instruments the data service syncs (needs the table of 003).
INSERT INTO market_data.symbols (symbol, asset_class) VALUES
    ('BTCUSDT', 'crypto'),
    ('ETHUSDT', 'crypto'),
    ('XAUUSD', 'metal'),
    ('EURUSD', 'fx'),
    ('GBPUSD', 'fx')
ON CONFLICT (symbol) DO NOTHING;
