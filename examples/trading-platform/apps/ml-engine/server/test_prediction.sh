#!/bin/sh
# In-image check of the prediction logic (`docker run IMAGE /app/test_prediction.sh`):
# sends one POST /predictions straight through handler.sh, without nc or the
# network, and checks the answer. Exits 0 when the prediction is sane.
set -u

case $0 in
    */*) HERE=${0%/*} ;;
    *) HERE=. ;;
esac
# Own counters, so the check never shows up in the service's /metrics.
STATE_DIR=$(mktemp -d)
export STATE_DIR
trap 'rm -rf "$STATE_DIR"' EXIT

body='{"symbol":"BTCUSDT","horizon":18}'
answer=$(printf 'POST /predictions HTTP/1.0\r\nContent-Type: application/json\r\nX-API-Key: %s\r\nContent-Length: %s\r\n\r\n%s' \
    "${API_KEY:-${ML_API_KEY:-}}" "${#body}" "$body" |
    ML_ERROR_RATE=0 ML_PREDICTION_DELAY_MS=0 FAIL_RATE=0 RESPONSE_DELAY_MS=0 sh "$HERE/handler.sh" 2>/dev/null)

status=$(printf '%s\n' "$answer" | head -n 1 | cut -d ' ' -f 2)
payload=$(printf '%s\n' "$answer" | tail -n 1)
if [ "$status" != 200 ]; then
    echo "test_prediction: FAILED, status $status: $payload" >&2
    exit 1
fi
# high and low must be numbers with low < high.
if ! printf '%s\n' "$payload" | awk '
    match($0, /"high":[0-9.]+/) { high = substr($0, RSTART + 7, RLENGTH - 7) + 0 }
    match($0, /"low":[0-9.]+/) { low = substr($0, RSTART + 6, RLENGTH - 6) + 0 }
    END { exit !(low > 0 && high > low) }'; then
    echo "test_prediction: FAILED, implausible range: $payload" >&2
    exit 1
fi
echo "test_prediction: ok $payload"
