#!/bin/sh
# The busybox services each carry their own copy of the shared server files
# (an image's build context is its app directory). Fails when the copies
# differ; fix by copying apps/backend/server/<file> over the others.
set -u
cd "$(dirname "$0")/.." || exit 1
status=0
for file in http.sh start.sh; do
    for app in ml-engine data-service; do
        if ! cmp -s "apps/backend/server/$file" "apps/$app/server/$file"; then
            echo "apps/$app/server/$file differs from apps/backend/server/$file" >&2
            status=1
        fi
    done
done
[ "$status" = 0 ] && echo "shared server files are identical"
exit "$status"
