#!/bin/sh
# Backend API (the sample's stand-in for the Node.js API): one HTTP request
# on stdin/stdout, run by `nc -e` per connection. Plumbing and knobs: http.sh.
case $0 in
    */*) APP_DIR=${APP_DIR:-${0%/*}} ;;
    *) APP_DIR=${APP_DIR:-.} ;;
esac
. "$APP_DIR/http.sh"

route() {
    case "$ROUTE_METHOD $REQ_PATH" in
        "GET /health")
            health_state
            respond_json "$HEALTH_CODE" "{\"status\":\"$HEALTH\",\"color\":\"$APP_COLOR\",\"version\":\"$APP_VERSION\",\"commit\":\"$APP_COMMIT\",\"uptime\":$UPTIME}"
            ;;
        "GET /health/detailed")
            health_state
            respond_json "$HEALTH_CODE" "{\"status\":\"$HEALTH\",\"database\":\"connected\",\"redis\":\"connected\",\"version\":\"$APP_VERSION\"}"
            ;;
        "GET /api/v1/ping")
            respond_json 200 "{\"pong\":true,\"version\":\"$APP_VERSION\"}"
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
