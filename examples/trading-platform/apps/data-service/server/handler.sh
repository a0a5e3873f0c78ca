#!/bin/sh
# Data service (the sample's stand-in for the Python market-data sync): one
# HTTP request on stdin/stdout, run by `nc -e` per connection. Plumbing and
# the shared knobs: http.sh. app/sync.py holds the same rules in Python.
case $0 in
    */*) APP_DIR=${APP_DIR:-${0%/*}} ;;
    *) APP_DIR=${APP_DIR:-.} ;;
esac
. "$APP_DIR/http.sh"

# GET /sync/status. The last sync is the start of the current sync interval;
# rows_synced is what a backfill of BACKFILL_DAYS of 5m candles writes.
# SYNC_STATUS=failed reports a failed sync with status code 200, as the real
# service does: checks have to read the body.
sync_status() {
    : "${SYNC_STATUS:=ok}"
    : "${SYNC_SYMBOLS:=BTCUSDT,ETHUSDT,XAUUSD,EURUSD,GBPUSD}"
    : "${SYNC_INTERVAL_MINUTES:=5}"
    : "${BACKFILL_DAYS:=30}"
    knob_int SYNC_INTERVAL_MINUTES
    knob_int BACKFILL_DAYS
    json_safe SYNC_STATUS
    [ "$SYNC_INTERVAL_MINUTES" -gt 0 ] || SYNC_INTERVAL_MINUTES=5

    _interval=$((SYNC_INTERVAL_MINUTES * 60))
    _now=$(date +%s)
    _last=$(date -u -d "@$((_now - _now % _interval))" +%Y-%m-%dT%H:%M:%SZ)
    # "A,B" -> "A","B" (only letters and digits survive, so the JSON stays valid).
    _symbols=$(printf '%s' "$SYNC_SYMBOLS" | tr -cd 'A-Za-z0-9,' | sed 's/,,*/,/g; s/^,//; s/,$//; s/,/","/g')
    _count=0
    if [ -n "$_symbols" ]; then
        _count=$(printf '%s' "$_symbols" | tr -cd ',' | wc -c)
        _count=$((_count + 1))
    fi
    _list="[${_symbols:+\"$_symbols\"}]"

    if [ "$SYNC_STATUS" = ok ]; then
        _rows=$((_count * BACKFILL_DAYS * 288))
        respond_json 200 "{\"status\":\"ok\",\"last_sync\":\"$_last\",\"symbols\":$_list,\"rows_synced\":$_rows,\"version\":\"$APP_VERSION\"}"
    else
        respond_json 200 "{\"status\":\"$SYNC_STATUS\",\"error\":\"polygon timeout\",\"last_sync\":\"$_last\",\"symbols\":$_list,\"rows_synced\":0,\"version\":\"$APP_VERSION\"}"
    fi
}

route() {
    case "$ROUTE_METHOD $REQ_PATH" in
        "GET /health")
            health_state
            respond_json "$HEALTH_CODE" "{\"status\":\"$HEALTH\",\"color\":\"$APP_COLOR\",\"version\":\"$APP_VERSION\",\"commit\":\"$APP_COMMIT\",\"uptime\":$UPTIME}"
            ;;
        "GET /sync/status")
            sync_status
            ;;
        "GET /metrics")
            respond 200 'text/plain; version=0.0.4' "$(metrics_http_requests; metrics_http_durations; metrics_container; metrics_app_info)
"
            ;;
        *)
            not_found
            ;;
    esac
}

serve
