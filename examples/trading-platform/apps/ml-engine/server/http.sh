# http.sh - HTTP/1.0 plumbing shared by every busybox service of the platform.
#
# Sourced by handler.sh, which sets APP_DIR, defines route() and calls serve.
# Each app keeps an identical copy (an image's build context is its own app
# directory); scripts/check-shared.sh at the repository root keeps them equal.
# Written for busybox ash (no bash, node or python in the image); it uses
# two ash features that dash lacks: `read -t` and $RANDOM.

set -u

# Where runtime.env lives and where counters and the start time are kept.
APP_DIR=${APP_DIR:-/app}
RUNTIME_ENV=${RUNTIME_ENV:-$APP_DIR/runtime.env}
STATE_DIR=${STATE_DIR:-/tmp}
CR=$(printf '\r')
JSON='application/json'

# --- knobs ---------------------------------------------------------------

# Defaults, then runtime.env, then the container's environment. Sourcing the
# file would clobber variables the environment already set, so the exported
# environment is saved first and replayed after the file: the environment wins.
load_knobs() {
    _saved_env=$(export -p)
    if [ -f "$RUNTIME_ENV" ]; then
        . "$RUNTIME_ENV"
    fi
    eval "$_saved_env"

    : "${HEALTH_STATUS:=ok}"
    : "${STARTUP_DELAY_SECONDS:=0}"
    : "${FAIL_RATE:=0}"
    : "${FAIL_BEHIND_PROXY:=}"
    : "${RESPONSE_DELAY_MS:=0}"
    : "${APP_VERSION:=unknown}"
    : "${APP_COLOR:=none}"
    : "${APP_COMMIT:=unknown}"
    knob_int STARTUP_DELAY_SECONDS
    knob_int FAIL_RATE
    knob_int RESPONSE_DELAY_MS
    # These end up inside JSON strings and label values.
    json_safe APP_VERSION APP_COLOR APP_COMMIT HEALTH_STATUS
}

# knob_int NAME: a knob that is not a whole number counts as 0 (harmless).
knob_int() {
    eval "_v=\${$1:-}"
    case $_v in
        '' | *[!0-9]*) eval "$1=0" ;;
    esac
}

# json_safe NAME...: escape backslashes and quotes in place (rarely needed,
# so the sed only runs when one is present).
json_safe() {
    for _n in "$@"; do
        eval "_v=\${$_n}"
        case $_v in
            *[\"\\]*)
                _v=$(printf '%s' "$_v" | sed 's/[\\"]/\\&/g')
                eval "$_n=\$_v"
                ;;
        esac
    done
}

# percent_hit N: true N% of the time ($RANDOM is 0..32767 in ash).
percent_hit() {
    [ "$1" -gt 0 ] && [ $((RANDOM % 100)) -lt "$1" ]
}

# --- request -------------------------------------------------------------

# Reads the request line, the headers and a body of Content-Length bytes.
# `read` takes one byte at a time from a socket, so `head -c` gets exactly
# the body. The timeouts end handlers whose client never sends anything.
read_request() {
    METHOD='' TARGET='' REQ_PATH='' CONTENT_LENGTH=0
    FORWARDED_FOR='' API_KEY_HEADER='' BODY=''
    IFS= read -r -t 10 _line || return 1
    _line=${_line%"$CR"}
    METHOD=${_line%% *}
    _rest=${_line#* }
    TARGET=${_rest%% *}
    REQ_PATH=${TARGET%%\?*}

    while IFS= read -r -t 10 _h; do
        _h=${_h%"$CR"}
        [ -z "$_h" ] && break
        _name=$(printf '%s' "${_h%%:*}" | tr 'A-Z' 'a-z')
        _value=${_h#*:}
        _value=${_value#"${_value%%[! ]*}"}
        case $_name in
            content-length) CONTENT_LENGTH=$_value ;;
            x-forwarded-for) FORWARDED_FOR=$_value ;;
            x-api-key) API_KEY_HEADER=$_value ;;
        esac
    done
    knob_int CONTENT_LENGTH
    if [ "$CONTENT_LENGTH" -gt 0 ]; then
        BODY=$(head -c "$CONTENT_LENGTH")
    fi
    return 0
}

# --- counters (files under STATE_DIR, approximate under concurrency) -----

counter_get() {
    _n=0
    if [ -f "$STATE_DIR/$1" ]; then
        read -r _n <"$STATE_DIR/$1" || _n=0
    fi
    case $_n in '' | *[!0-9]*) _n=0 ;; esac
    echo "$_n"
}

# counter_inc NAME: write a temp file then rename, so readers never see half a number.
counter_inc() {
    _c=$(counter_get "$1")
    echo $((_c + 1)) >"$STATE_DIR/.$1.$$" && mv -f "$STATE_DIR/.$1.$$" "$STATE_DIR/$1"
}

# Prometheus lines for http_requests_total, one series per status code.
metrics_http_requests() {
    echo '# HELP http_requests_total HTTP requests answered, by status code.'
    echo '# TYPE http_requests_total counter'
    for _f in "$STATE_DIR"/http_requests_*; do
        [ -f "$_f" ] || continue
        echo "http_requests_total{code=\"${_f##*_}\"} $(counter_get "${_f##*/}")"
    done
}

metrics_app_info() {
    echo '# HELP app_info Version and color of the running build.'
    echo '# TYPE app_info gauge'
    echo "app_info{version=\"$APP_VERSION\",color=\"$APP_COLOR\"} 1"
}

# --- response ------------------------------------------------------------

reason() {
    case $1 in
        200) echo OK ;;
        400) echo Bad Request ;;
        401) echo Unauthorized ;;
        404) echo Not Found ;;
        405) echo Method Not Allowed ;;
        500) echo Internal Server Error ;;
        503) echo Service Unavailable ;;
        *) echo Unknown ;;
    esac
}

# respond STATUS CONTENT_TYPE BODY
respond() {
    counter_inc "http_requests_$1"
    _len=$(printf '%s' "$3" | wc -c)
    printf 'HTTP/1.0 %s %s\r\n' "$1" "$(reason "$1")"
    printf 'Content-Type: %s\r\nContent-Length: %s\r\n' "$2" $((_len))
    printf 'X-App-Version: %s\r\nX-App-Color: %s\r\n' "$APP_VERSION" "$APP_COLOR"
    printf 'Connection: close\r\n\r\n'
    [ "$METHOD" = HEAD ] || printf '%s' "$3"
    # Access log on stderr: busybox nc leaves it on the container's log.
    echo "$METHOD $TARGET $1" >&2
}

respond_json() {
    respond "$1" "$JSON" "$2"
}

not_found() {
    respond_json 404 '{"error":"not found"}'
}

# --- health --------------------------------------------------------------

# Sets HEALTH_CODE, HEALTH (status word) and UPTIME from the knobs and the
# start time written by start.sh (written here if missing, e.g. when the
# handler is run by hand).
health_state() {
    _now=$(date +%s)
    if [ ! -f "$STATE_DIR/started_at" ]; then
        echo "$_now" >"$STATE_DIR/started_at"
    fi
    read -r _started <"$STATE_DIR/started_at" || _started=$_now
    case $_started in '' | *[!0-9]*) _started=$_now ;; esac
    UPTIME=$((_now - _started))
    if [ "$UPTIME" -lt "$STARTUP_DELAY_SECONDS" ]; then
        HEALTH_CODE=503 HEALTH=starting
    elif [ "$HEALTH_STATUS" != ok ]; then
        HEALTH_CODE=503 HEALTH=$HEALTH_STATUS
    else
        HEALTH_CODE=200 HEALTH=ok
    fi
}

# --- main ----------------------------------------------------------------

# Applies the knobs every service shares, then hands over to the app's route().
# /health and /metrics are spared by FAIL_RATE: the first is what the
# pipeline's health check reads, the second is how failures are observed.
serve() {
    read_request || exit 0
    load_knobs
    # HEAD is answered like GET, without the body.
    ROUTE_METHOD=$METHOD
    [ "$METHOD" = HEAD ] && ROUTE_METHOD=GET

    if [ "$RESPONSE_DELAY_MS" -gt 0 ]; then
        usleep $((RESPONSE_DELAY_MS * 1000))
    fi
    if [ -n "$FORWARDED_FOR" ]; then
        case " $FAIL_BEHIND_PROXY " in
            *" $REQ_PATH "*)
                respond_json 500 '{"error":"failing behind the proxy (FAIL_BEHIND_PROXY)"}'
                return
                ;;
        esac
    fi
    case $REQ_PATH in
        /health | /metrics) ;;
        *)
            if percent_hit "$FAIL_RATE"; then
                respond_json 500 '{"error":"injected failure (FAIL_RATE)"}'
                return
            fi
            ;;
    esac
    route
}
