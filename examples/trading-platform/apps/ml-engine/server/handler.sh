#!/bin/sh
# ML engine (the sample's stand-in for the Python model server): one HTTP
# request on stdin/stdout, run by `nc -e` per connection. Plumbing and the
# shared knobs: http.sh. app/predict.py holds the same formula in Python.
case $0 in
    */*) APP_DIR=${APP_DIR:-${0%/*}} ;;
    *) APP_DIR=${APP_DIR:-.} ;;
esac
. "$APP_DIR/http.sh"

RANGE_HIGH=phase2/range_predictor/15m/model_high.json
RANGE_LOW=phase2/range_predictor/15m/model_low.json
MAX_HORIZON=288

# The prediction counters are tallies (http.sh): exact under concurrent requests.

# models_version: the "version" of the high range model, as /health reports it.
models_version() {
    sed -n 's/^[[:space:]]*"version"[[:space:]]*:[[:space:]]*"\([0-9A-Za-z.+-]*\)".*/\1/p' \
        "$MODEL_PATH/$RANGE_HIGH" 2>/dev/null | head -n 1
}

# json_field NAME PATTERN: the value of "NAME": in the request body, if it
# matches PATTERN (a sed bracket expression, which also keeps awk safe).
json_field() {
    printf '%s' "$BODY" | tr -d '\r\n' |
        sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\{0,1\}\($2*\)\"\{0,1\}[[:space:]]*[,}].*/\1/p"
}

# predict SYMBOL HORIZON: prints "high":H,"low":L from the two range models,
# or fails when a model does not know the symbol.
#   move = intercept + horizon_coef * horizon
#   high = price * (1 + move_high), low = price * (1 - move_low)
# Linear on purpose: busybox-static's awk has no math library (no sqrt).
predict() {
    awk -v sym="$1" -v h="$2" '
        function num(line) {
            sub(/^[^:]*:[ \t]*/, "", line)
            sub(/[ \t]*,?[ \t]*$/, "", line)
            return line + 0
        }
        FNR == 1 { file++ }
        /"intercept"/ { intercept[file] = num($0) }
        /"horizon_coef"/ { coef[file] = num($0) }
        index($0, "\"" sym "\":") { price[file] = num($0); known[file] = 1 }
        END {
            if (!known[1] || !known[2]) exit 1
            move_high = intercept[1] + coef[1] * h
            move_low = intercept[2] + coef[2] * h
            printf "\"high\":%.4f,\"low\":%.4f", price[1] * (1 + move_high), price[2] * (1 - move_low)
        }' "$MODEL_PATH/$RANGE_HIGH" "$MODEL_PATH/$RANGE_LOW"
}

predictions() {
    if [ "$ROUTE_METHOD" != POST ]; then
        respond_json 405 '{"error":"use POST with {\"symbol\":...,\"horizon\":...}"}'
        return
    fi
    # The catalog hands the key over as ML_API_KEY; API_KEY takes precedence.
    _expected=${API_KEY:-${ML_API_KEY:-}}
    if [ -n "$_expected" ] && [ "$API_KEY_HEADER" != "$_expected" ]; then
        respond_json 401 '{"error":"missing or wrong X-API-Key"}'
        return
    fi
    tally ml_prediction_requests_total
    PREDICTION_START=$REQUEST_START
    if [ "$ML_PREDICTION_DELAY_MS" -gt 0 ]; then
        usleep $((ML_PREDICTION_DELAY_MS * 1000))
    fi
    if percent_hit "$ML_ERROR_RATE"; then
        tally ml_prediction_errors_total
        respond_json 500 '{"error":"model inference failed (ML_ERROR_RATE)"}'
        return
    fi

    _symbol=$(json_field symbol '[A-Za-z0-9]' | tr 'a-z' 'A-Z')
    _horizon=$(json_field horizon '[0-9]')
    if [ -z "$_symbol" ] || [ -z "$_horizon" ]; then
        respond_json 400 '{"error":"body must be JSON with \"symbol\" and \"horizon\""}'
        return
    fi
    # Leading zeros off (they would mean octal); more than 4 digits is out of range anyway.
    _horizon=${_horizon#"${_horizon%%[!0]*}"}
    case $_horizon in ?????*) _horizon=99999 ;; esac
    if [ "${_horizon:-0}" -lt 1 ] || [ "$_horizon" -gt "$MAX_HORIZON" ]; then
        respond_json 400 "{\"error\":\"horizon must be 1..$MAX_HORIZON\"}"
        return
    fi
    if [ -n "${SUPPORTED_SYMBOLS:-}" ]; then
        case ",$SUPPORTED_SYMBOLS," in
            *",$_symbol,"*) ;;
            *)
                respond_json 400 "{\"error\":\"unsupported symbol $_symbol\"}"
                return
                ;;
        esac
    fi
    if ! _range=$(predict "$_symbol" "$_horizon"); then
        respond_json 400 "{\"error\":\"no model for symbol $_symbol\"}"
        return
    fi
    tally ml_predictions_total
    respond_json 200 "{\"symbol\":\"$_symbol\",\"horizon\":$_horizon,$_range,\"version\":\"$APP_VERSION\"}"
}

metrics() {
    load_tallies
    echo '# HELP ml_prediction_requests_total Authorised prediction requests, whatever the outcome.'
    echo '# TYPE ml_prediction_requests_total counter'
    tally_value ml_prediction_requests_total
    echo "ml_prediction_requests_total $_v"
    echo '# HELP ml_predictions_total Predictions served.'
    echo '# TYPE ml_predictions_total counter'
    tally_value ml_predictions_total
    echo "ml_predictions_total $_v"
    echo '# HELP ml_prediction_errors_total Predictions that failed in the model (answered 500).'
    echo '# TYPE ml_prediction_errors_total counter'
    tally_value ml_prediction_errors_total
    echo "ml_prediction_errors_total $_v"
    echo '# HELP ml_prediction_duration_seconds Time to answer an authorised prediction request.'
    echo '# TYPE ml_prediction_duration_seconds histogram'
    histogram_lines ml_prediction_duration_seconds ml_prediction
    metrics_http_requests
    metrics_http_durations
    metrics_container
    metrics_app_info
}

# timed_predictions: predictions, and its duration once it counted as a request.
timed_predictions() {
    PREDICTION_START=''
    predictions
    if [ -n "$PREDICTION_START" ]; then
        elapsed_ms
        observe ml_prediction "$_ms"
    fi
}

route() {
    : "${MODEL_PATH:=$APP_DIR/models}"
    : "${ML_ERROR_RATE:=0}"
    : "${ML_PREDICTION_DELAY_MS:=0}"
    knob_int ML_ERROR_RATE
    knob_int ML_PREDICTION_DELAY_MS
    case "$ROUTE_METHOD $REQ_PATH" in
        "GET /health")
            health_state
            _models=$(find "$MODEL_PATH" -type f -name '*.json' 2>/dev/null | wc -l)
            respond_json "$HEALTH_CODE" "{\"status\":\"$HEALTH\",\"gpu\":false,\"models_loaded\":$((_models)),\"models_version\":\"$(models_version)\",\"version\":\"$APP_VERSION\",\"track\":\"$APP_COLOR\"}"
            ;;
        *" /predictions")
            timed_predictions
            ;;
        "GET /metrics")
            respond 200 'text/plain; version=0.0.4' "$(metrics)
"
            ;;
        *)
            not_found
            ;;
    esac
}

serve
