"""Market-data sync of the trading platform (sample)."""
