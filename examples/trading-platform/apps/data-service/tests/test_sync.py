"""app/sync.py: the rules of the market-data sync."""

from datetime import datetime, timedelta, timezone

from app.sync import (
    DEFAULT_SYMBOLS,
    backfill_rows,
    last_sync,
    missing_buckets,
    parse_aggregates,
    parse_symbols,
    sync_status,
)

UTC = timezone.utc
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MS = 1000


def bar(minutes, o=100.0, h=101.0, low=99.0, c=100.5, v=3.0):
    return {"t": int((T0 + timedelta(minutes=minutes)).timestamp()) * MS,
            "o": o, "h": h, "l": low, "c": c, "v": v}


def test_parse_symbols():
    assert parse_symbols(DEFAULT_SYMBOLS) == ["BTCUSDT", "ETHUSDT", "XAUUSD", "EURUSD", "GBPUSD"]
    assert parse_symbols(' BTCUSDT,,"ETH"USDT, ') == ["BTCUSDT", "ETHUSDT"]
    assert parse_symbols(",,") == []


def test_last_sync_is_the_start_of_the_interval():
    assert last_sync(T0 + timedelta(minutes=7, seconds=30), 5) == T0 + timedelta(minutes=5)
    assert last_sync(T0 + timedelta(minutes=59), 60) == T0
    assert last_sync(T0, 0) == T0  # a zero interval counts as one minute


def test_backfill_rows():
    assert backfill_rows(["BTCUSDT", "ETHUSDT"], 30) == 2 * 30 * 288


def test_parse_aggregates_sorts_dedupes_and_drops_bad_bars():
    payload = {"results": [
        bar(10), bar(0), bar(5), bar(5, c=100.7),
        bar(15, h=98.0),          # high below the low
        {"t": 0, "o": 1},         # missing prices
    ]}
    candles = parse_aggregates("BTCUSDT", payload)
    assert [c.ts for c in candles] == [T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)]
    assert candles[1].close == 100.7  # the later duplicate wins
    assert parse_aggregates("BTCUSDT", {"status": "OK"}) == []


def test_missing_buckets():
    have = {T0, T0 + timedelta(minutes=10)}
    missing = missing_buckets(have, T0 + timedelta(minutes=1), T0 + timedelta(minutes=20))
    assert missing == [T0 + timedelta(minutes=5), T0 + timedelta(minutes=15)]


def test_sync_status_ok_and_failed():
    now = T0 + timedelta(minutes=3)
    ok = sync_status(now, ["BTCUSDT"], 30, 5, "2.0.0")
    assert ok == {"status": "ok", "last_sync": "2024-05-01T12:00:00Z", "symbols": ["BTCUSDT"],
                  "rows_synced": 8640, "version": "2.0.0"}
    failed = sync_status(now, ["BTCUSDT"], 30, 5, "2.0.0", status="failed")
    assert failed["status"] == "failed"
    assert failed["error"] == "polygon timeout"
    assert failed["rows_synced"] == 0
