"""Rules of the market-data sync, in plain Python.

The image answers GET /sync/status from server/handler.sh with the same
rules in busybox sh; tests/test_handler.py checks that both agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

UTC = timezone.utc
CANDLES_PER_DAY = 288  # 5m candles
DEFAULT_SYMBOLS = "BTCUSDT,ETHUSDT,XAUUSD,EURUSD,GBPUSD"


@dataclass(frozen=True)
class Candle:
    symbol: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


def parse_symbols(text: str) -> list[str]:
    """SYNC_SYMBOLS: comma separated; anything but letters and digits is dropped."""
    cleaned = re.sub(r"[^A-Za-z0-9,]", "", text)
    return [symbol for symbol in cleaned.split(",") if symbol]


def last_sync(now: datetime, interval_minutes: int) -> datetime:
    """Start of the sync interval `now` falls in (intervals count from the epoch)."""
    interval = max(interval_minutes, 1) * 60
    seconds = int(now.timestamp())
    return datetime.fromtimestamp(seconds - seconds % interval, UTC)


def backfill_rows(symbols: list[str], days: int) -> int:
    """Rows a backfill of `days` days of 5m candles writes."""
    return len(symbols) * days * CANDLES_PER_DAY


def parse_aggregates(symbol: str, payload: dict[str, Any]) -> list[Candle]:
    """Candles from a Polygon aggregates answer ({"results": [{"t": ms, "o": ...}]}).

    Bars with a missing price or a high below the low are dropped, and the
    candles come back sorted by time without duplicates.
    """
    candles: dict[datetime, Candle] = {}
    for bar in payload.get("results") or []:
        try:
            candle = Candle(
                symbol=symbol,
                ts=datetime.fromtimestamp(bar["t"] / 1000, UTC),
                open=float(bar["o"]),
                high=float(bar["h"]),
                low=float(bar["l"]),
                close=float(bar["c"]),
                volume=float(bar.get("v", 0)),
            )
        except (KeyError, TypeError, ValueError):
            continue
        body_low, body_high = sorted((candle.open, candle.close))
        if candle.low <= body_low and body_high <= candle.high:
            candles[candle.ts] = candle
    return [candles[ts] for ts in sorted(candles)]


def missing_buckets(have: set[datetime], start: datetime, end: datetime) -> list[datetime]:
    """5m bucket starts in [start, end) that have no candle yet: what a backfill fetches."""
    step = timedelta(minutes=5)
    bucket = last_sync(start, 5)
    if bucket < start:
        bucket += step
    missing = []
    while bucket < end:
        if bucket not in have:
            missing.append(bucket)
        bucket += step
    return missing


def sync_status(
    now: datetime,
    symbols: list[str],
    days: int,
    interval_minutes: int,
    version: str,
    status: str = "ok",
) -> dict[str, Any]:
    """The body of GET /sync/status; a status other than "ok" is a failed sync."""
    body: dict[str, Any] = {"status": status}
    if status != "ok":
        body["error"] = "polygon timeout"
    body["last_sync"] = last_sync(now, interval_minutes).strftime("%Y-%m-%dT%H:%M:%SZ")
    body["symbols"] = symbols
    body["rows_synced"] = backfill_rows(symbols, days) if status == "ok" else 0
    body["version"] = version
    return body
