#!/usr/bin/env bash
# Runs the server on the embedded default (SQLite in ./maestro-data, 127.0.0.1:8001) and the
# monitor on it, logged in as the admin; quitting the monitor stops the server.
#
# Usage: bash scripts/monitor.sh        (MAESTRO_ADMIN_PASSWORD, default change-me)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIND="${MAESTRO_BIND:-127.0.0.1:8001}"
PASSWORD="${MAESTRO_ADMIN_PASSWORD:-change-me}"
URL="http://$BIND"

cargo build --release --quiet -p maestro-server -p maestro-tui

SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

mkdir -p maestro-data
MAESTRO_ADMIN_PASSWORD="$PASSWORD" ./target/release/maestro-server --bind "$BIND" \
    >maestro-data/server.log 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 100); do
    if curl -sf "$URL/latest/" -o /dev/null 2>/dev/null || curl -sf "$URL/" -o /dev/null; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "maestro-server stopped; its log:" >&2
        cat maestro-data/server.log >&2
        exit 1
    fi
    sleep 0.1
done

TOKEN="$(curl -sf -X POST "$URL/latest/user/login" \
    --data-urlencode username=admin --data-urlencode "password=$PASSWORD" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')" || {
    echo "could not log in as admin (was ./maestro-data made with another password?)" >&2
    exit 1
}

MAESTRO_TOKEN="$TOKEN" ./target/release/maestro --url "$URL"
