#!/usr/bin/env bash
# Install the protocol peers the transport tests run against that pip does
# not bring: nginx (Debian's nginx-light).  hypercorn and proxy.py come with
# the project's "test" extra.
#
#     bash tools/peers.sh
#
# Quiet and quick when nginx is already on PATH (or in /usr/sbin, which a
# non-root PATH may lack).  Uses sudo only when not root.  The package index
# is refreshed only if the install fails without it: a fresh CI machine may
# have none, a developer's usually has a recent one.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "peers.sh: nginx is missing and there is no apt-get here; install nginx (1.18 or newer) by hand" >&2
    exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    as_root=(sudo)
fi

log="$(mktemp "${TMPDIR:-/tmp}/peers-apt.XXXXXX")"
trap 'rm -f "$log"' EXIT
install() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends nginx-light >"$log" 2>&1
}

echo "peers.sh: installing nginx-light" >&2
if ! install; then
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    if ! install; then
        cat "$log" >&2
        exit 1
    fi
fi
# The package starts a system nginx on port 80 where an init system runs
# (not in containers); the tests start their own, so that one is not needed,
# but it is left alone: it is the machine's, not ours.
echo "peers.sh: $(/usr/sbin/nginx -v 2>&1)" >&2
