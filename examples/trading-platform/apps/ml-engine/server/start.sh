#!/bin/sh
# Container entrypoint. Remembers when the container started (the handler
# answers "starting" for STARTUP_DELAY_SECONDS after this), then serves HTTP:
# busybox nc forks one /app/handler.sh per connection (-ll keeps listening).
set -u

: "${PORT:?PORT must be set (the Dockerfile sets it)}"
APP_DIR=${APP_DIR:-/app}
STATE_DIR=${STATE_DIR:-/tmp}

mkdir -p "$STATE_DIR"
date +%s >"$STATE_DIR/started_at"
echo "serving on port $PORT (version ${APP_VERSION:-unknown}, color ${APP_COLOR:-none})" >&2
exec nc -ll -p "$PORT" -e "$APP_DIR/handler.sh"
