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
# The container's own cgroup (Docker mounts it there), read for /metrics.
CGROUP_ROOT=${CGROUP_ROOT:-/sys/fs/cgroup}
CR=$(printf '\r')
JSON='application/json'
# Upper bounds of the latency histograms: milliseconds (tally names) and the
# `le` label in seconds. +Inf is the count.
BUCKETS='25:0.025 50:0.05 100:0.1 200:0.2 300:0.3 500:0.5 1000:1 2000:2 3000:3 5000:5 10000:10'
# cgroup v1 writes "no memory limit" as a number near 2^63; above 2^60 means none.
NO_LIMIT_BYTES=1152921504606846976

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

# --- tallies: exact counters under concurrency --------------------------

# nc runs handlers concurrently, and a read-increment-rename counter can lose
# a count or even go down, which Prometheus reads as a counter reset. An
# append is atomic, so a tally is a file that grows by one byte per event
# (tally_add: N bytes) and its size is the count. Names: [A-Za-z0-9_] only.
tally() {
    printf . >>"$STATE_DIR/tally_$1"
}

tally_add() {
    [ "$2" -gt 0 ] && printf "%$2s" '' >>"$STATE_DIR/tally_$1"
    return 0
}

# load_tallies: sets T_<name> to every tally's count with a single wc, since
# a scrape every second must not fork a process per number.
load_tallies() {
    set -- "$STATE_DIR"/tally_*
    [ -f "$1" ] || return 0
    _sizes=$(wc -c "$@")
    while read -r _size _path; do
        case $_path in
            "$STATE_DIR"/tally_*) eval "T_${_path##*/tally_}=\$_size" ;;
        esac
    done <<SIZES
$_sizes
SIZES
}

# tally_value NAME: sets _v to the count load_tallies found (0 if none).
tally_value() {
    eval "_v=\${T_$1:-0}"
}

# --- timing --------------------------------------------------------------

# uptime_cs: sets UPTIME_CS to the kernel's uptime in hundredths of a second.
# `read` is a builtin: timing a request forks nothing.
uptime_cs() {
    _up=0.00
    read -r _up _ </proc/uptime
    _frac=${_up#*.}
    UPTIME_CS=$((${_up%.*} * 100 + ${_frac#0}))
}

# elapsed_ms: sets _ms to the time since REQUEST_START (10 ms resolution).
elapsed_ms() {
    uptime_cs
    _ms=$(((UPTIME_CS - REQUEST_START) * 10))
}

# observe NAME MS: one event of MS milliseconds into histogram NAME (tallies).
observe() {
    for _b in $BUCKETS; do
        [ "$2" -le "${_b%%:*}" ] && tally "${1}_${_b%%:*}"
    done
    tally "${1}_count"
    tally_add "${1}_sum" $(($2 / 10))
}

# histogram_lines METRIC NAME [LABEL]: the series of histogram NAME, after
# load_tallies. LABEL (e.g. code="200") goes on every series.
histogram_lines() {
    _labels=${3:-}
    for _b in $BUCKETS; do
        tally_value "${2}_${_b%%:*}"
        echo "${1}_bucket{${_labels:+$_labels,}le=\"${_b#*:}\"} $_v"
    done
    tally_value "${2}_count"
    _count=$_v
    echo "${1}_bucket{${_labels:+$_labels,}le=\"+Inf\"} $_count"
    tally_value "${2}_sum"
    _braced=${_labels:+\{$_labels\}}
    printf '%s_sum%s %d.%02d\n' "$1" "$_braced" $((_v / 100)) $((_v % 100))
    echo "${1}_count$_braced $_count"
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

# http_request_duration_seconds: every answer but /metrics (Prometheus' own
# scrapes), by status code; the API's latency and error rate are read from it.
metrics_http_durations() {
    load_tallies
    echo '# HELP http_request_duration_seconds Time to answer a request (not /metrics), by status code.'
    echo '# TYPE http_request_duration_seconds histogram'
    for _f in "$STATE_DIR"/tally_http_*_count; do
        [ -f "$_f" ] || continue
        _code=${_f##*/tally_http_}
        _code=${_code%_count}
        histogram_lines http_request_duration_seconds "http_$_code" "code=\"$_code\""
    done
}

# The container's memory and CPU from its cgroup (v2, else v1), under
# cAdvisor's metric names. A limit that is not set is not written: a share of
# "no limit" means nothing, so Prometheus has no data rather than a low one.
metrics_container() {
    _limit='' _quota='' _period=''
    if [ -f "$CGROUP_ROOT/memory.current" ]; then
        read -r _memory <"$CGROUP_ROOT/memory.current"
        stat_field "$CGROUP_ROOT/memory.stat" inactive_file
        _inactive=$_field
        read -r _limit <"$CGROUP_ROOT/memory.max"
        stat_field "$CGROUP_ROOT/cpu.stat" usage_usec
        _cpu=$(printf '%d.%06d' $((_field / 1000000)) $((_field % 1000000)))
        read -r _quota _period <"$CGROUP_ROOT/cpu.max"
    elif [ -f "$CGROUP_ROOT/memory/memory.usage_in_bytes" ]; then
        read -r _memory <"$CGROUP_ROOT/memory/memory.usage_in_bytes"
        stat_field "$CGROUP_ROOT/memory/memory.stat" total_inactive_file
        _inactive=$_field
        read -r _limit <"$CGROUP_ROOT/memory/memory.limit_in_bytes"
        read -r _ns <"$CGROUP_ROOT/cpuacct/cpuacct.usage"
        _cpu=$(printf '%d.%09d' $((_ns / 1000000000)) $((_ns % 1000000000)))
        read -r _quota <"$CGROUP_ROOT/cpu/cpu.cfs_quota_us"
        read -r _period <"$CGROUP_ROOT/cpu/cpu.cfs_period_us"
    else
        return 0
    fi
    _working=$((_memory - _inactive))
    [ "$_working" -lt 0 ] && _working=0
    echo '# HELP container_memory_working_set_bytes Memory in use, less inactive file cache.'
    echo '# TYPE container_memory_working_set_bytes gauge'
    echo "container_memory_working_set_bytes $_working"
    echo '# HELP container_spec_memory_limit_bytes Memory limit of the container.'
    echo '# TYPE container_spec_memory_limit_bytes gauge'
    case $_limit in
        '' | *[!0-9]*) ;;
        *) [ "$_limit" -lt "$NO_LIMIT_BYTES" ] && echo "container_spec_memory_limit_bytes $_limit" ;;
    esac
    echo '# HELP container_cpu_usage_seconds_total CPU time used by the container.'
    echo '# TYPE container_cpu_usage_seconds_total counter'
    echo "container_cpu_usage_seconds_total $_cpu"
    echo '# HELP container_spec_cpu_quota CPU time the container may use per period (microseconds).'
    echo '# TYPE container_spec_cpu_quota gauge'
    echo '# HELP container_spec_cpu_period Length of the CPU quota period (microseconds).'
    echo '# TYPE container_spec_cpu_period gauge'
    case $_quota in
        '' | *[!0-9]*) ;;
        *)
            echo "container_spec_cpu_quota $_quota"
            echo "container_spec_cpu_period $_period"
            ;;
    esac
    return 0
}

# stat_field FILE KEY: sets _field to KEY's value in a "key value" file (0 if absent).
stat_field() {
    _field=0
    while read -r _key _value; do
        if [ "$_key" = "$2" ]; then
            _field=$_value
            break
        fi
    done <"$1"
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
    if [ "$REQ_PATH" != /metrics ]; then
        elapsed_ms
        observe "http_$1" "$_ms"
    fi
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
    uptime_cs
    REQUEST_START=$UPTIME_CS
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
