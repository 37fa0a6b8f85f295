#!/bin/sh
# Entrypoint of every autointerp image (api, worker-cpu, worker-gpu): check that the shared
# store is a directory this user can write (a URL store, s3://..., is left to fsspec), then
# run the command (`exec`, so signals reach
# uvicorn / Celery directly and a worker's warm shutdown works).
set -eu

store="${AUTOINTERP_STORE:-}"
case "$store" in
    *://*) store="" ;;  # an object store: nothing to mount or create here
esac
if [ -n "$store" ]; then
    mkdir -p "$store" 2>/dev/null || true
    if [ ! -d "$store" ] || [ ! -w "$store" ]; then
        echo "autointerp entrypoint: AUTOINTERP_STORE=$store is not a directory that uid" \
            "$(id -u) can write; expected the shared store mounted there, writable by this" \
            "user (on NFS: export it to uid $(id -u), or map all users to it)" >&2
        exit 78
    fi
fi

if [ "$#" -eq 0 ]; then
    echo "autointerp entrypoint: no command given; expected e.g. 'autointerp serve'" >&2
    exit 64
fi
exec "$@"
