#!/usr/bin/env bash
# Run a command beside a Prism mock server of the API spec:
#
#     bash tools/prism.sh COMMAND [ARGS...]
#
# Installs Prism (pinned by tools/prism/package-lock.json) into .prism/ the
# first time, derives the spec it serves with tools/prism_spec.py into a
# temp folder, starts it on 127.0.0.1 and a free port, runs COMMAND with
# PRISM_URL set to its address, and stops it by pid however this script
# exits.  The exit status is COMMAND's.  With PRISM_URL already set, no
# Prism is started: COMMAND runs against that one (for running the
# conformance test over and over against a server left running).
#
# Needs node and npm (the machine has them) and a python with PyYAML (the
# project's virtualenv, which tools/test.sh has activated).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ "$#" -eq 0 ]; then
    echo "usage: bash tools/prism.sh COMMAND [ARGS...]" >&2
    exit 2
fi
if [ -n "${PRISM_URL:-}" ]; then
    exec "$@"
fi

prefix="$root/.prism"
prism="$prefix/node_modules/.bin/prism"
if [ ! -x "$prism" ] || ! cmp -s "$root/tools/prism/package-lock.json" "$prefix/package-lock.json"; then
    echo "prism.sh: installing Prism into .prism/" >&2
    rm -rf "$prefix"
    mkdir -p "$prefix"
    cp "$root/tools/prism/package.json" "$root/tools/prism/package-lock.json" "$prefix/"
    (cd "$prefix" && npm ci --no-audit --no-fund --loglevel=error)
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/prism.XXXXXX")"
pid=""
status=1
stop() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if [ "$status" -eq 0 ]; then
        rm -rf "$tmp"
    else
        echo "prism.sh: Prism's log and spec kept in $tmp" >&2
    fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

python "$root/tools/prism_spec.py" "$tmp/openapi.json"
# The port is free when chosen but may be taken before Prism binds it: a
# start that fails on a port in use is tried again on another one.
for attempt in 1 2 3; do
    port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    # The bin is node's own script, so $! is node's pid, not a wrapper's
    # (npx would put a process between us and the server that a kill may
    # not reach).
    "$prism" mock --host 127.0.0.1 --port "$port" "$tmp/openapi.json" >"$tmp/prism.log" 2>&1 &
    pid=$!
    started=$SECONDS
    until grep -q "Prism is listening" "$tmp/prism.log"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            pid=""
            break
        fi
        if [ $((SECONDS - started)) -ge 180 ]; then
            echo "prism.sh: Prism not ready after 180 s:" >&2
            tail -n 30 "$tmp/prism.log" >&2
            exit 1
        fi
        sleep 0.25
    done
    if [ -n "$pid" ]; then
        break
    fi
    if [ "$attempt" -eq 3 ] || ! grep -q "EADDRINUSE" "$tmp/prism.log"; then
        echo "prism.sh: Prism exited before it was ready:" >&2
        tail -n 30 "$tmp/prism.log" >&2
        exit 1
    fi
done
echo "prism.sh: Prism ready on 127.0.0.1:$port after $((SECONDS - started)) s (log: $tmp/prism.log)" >&2

export PRISM_URL="http://127.0.0.1:$port"
export PRISM_LOG="$tmp/prism.log"
set +e
"$@"
status=$?
set -e
exit "$status"
