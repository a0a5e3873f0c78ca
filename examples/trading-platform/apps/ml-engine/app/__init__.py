"""Phase 2 models of the trading platform's ML engine (sample)."""
