-- Instruments the platform trades and syncs.
CREATE TABLE market_data.symbols (
    symbol      TEXT PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9]+$'),
    asset_class TEXT NOT NULL CHECK (asset_class IN ('crypto', 'fx', 'metal')),
    active      BOOLEAN NOT NULL DEFAULT true
);
