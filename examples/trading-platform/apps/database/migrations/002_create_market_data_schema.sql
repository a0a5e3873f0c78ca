-- Market data lives in its own schema, written by the data service.
CREATE SCHEMA IF NOT EXISTS market_data;
