#!/usr/bin/env bash
# The whole check, as CI runs it: formatting, clippy, every test (the MongoDB store's against a
# real MongoDB-wire server, SecantusDB from PyPI; kci-dev against the real binary; the web
# pages in Debian's headless Chromium, installed with apt-get when missing; schemathesis
# fuzzing the real server from its OpenAPI document).
#
# Needs Rust with cargo, python3 with venv, and apt-get (as root, or sudo) when Chromium is not
# installed; the network only for crates.io, PyPI and Debian's packages.
# Usage: bash scripts/test.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv-test"
WORK="$ROOT/.ci-work"
SERVER_LOG="$WORK/secantusd.log"
SERVER_PID=""

step() {
    printf '\n==> %s\n' "$*"
}

# Stops the MongoDB-wire server, if it was started, and keeps the script's exit status.
cleanup() {
    local status=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        # Quietly: the test runner's summary should stay the last lines of the output.
        kill "$SERVER_PID" 2>/dev/null || true
        # It exits in a few seconds after SIGTERM; do not wait forever.
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "the server ignored SIGTERM; killing it" >&2
            kill -9 "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The test tools from PyPI, installed into the venv.
install_test_tools() {
    # No cache: the wheels would be kept twice on disk, once in ~/.cache/pip.
    local pip=("$VENV/bin/pip" --disable-pip-version-check --quiet --no-cache-dir)
    # MongoDB-wire server for the MongoDB store's tests (see docs/mongodb-testing.md).
    "${pip[@]}" install secantusdb
    # kci-dev, the KernelCI command-line client, run against our server by tests/e2e/kci_dev.rs.
    # Pinned to the version the test was written against.
    "${pip[@]}" install 'kci-dev==0.1.12'
    # schemathesis, the property-based fuzzer run from our OpenAPI document by
    # scripts/fuzz-openapi.sh; 4.x, whose CLI (checks, operation filters) the script uses.
    "${pip[@]}" install 'schemathesis>=4,<5'
}

# Debian's Chromium and chromedriver, which the page tests (tests/e2e/pages.rs) drive, when
# they are missing: quietly, refreshing the package lists only if the install fails.
install_chromium() {
    if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
        return
    fi
    local sudo=()
    if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    fi
    local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver)
    local log="$WORK/apt.log"
    if ! "${install[@]}" >"$log" 2>&1; then
        "${sudo[@]}" apt-get update -q >>"$log" 2>&1 || true
        if ! "${install[@]}" >>"$log" 2>&1; then
            echo "installing chromium and chromium-driver failed; the end of its log:" >&2
            tail -n 30 "$log" >&2
            exit 1
        fi
    fi
}

# A TCP port on the loopback interface that nothing listens on right now.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Whether something accepts connections on 127.0.0.1:$1.
port_open() {
    python3 -c 'import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)' "$1"
}

start_mongodb_wire_server() {
    local port
    port="$(free_port)"
    step "starting secantusd-py on 127.0.0.1:$port"
    : >"$SERVER_LOG"
    # A simple command, so that $! is the server itself.
    "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$port" --storage-path :memory: \
        --log-level WARNING >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + 30))
    until port_open "$port"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "secantusd-py exited before accepting connections; its log:" >&2
            cat "$SERVER_LOG" >&2
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            echo "secantusd-py did not accept connections within 30 s; its log:" >&2
            cat "$SERVER_LOG" >&2
            exit 1
        fi
        sleep 0.2
    done
    export MAESTRO_TEST_MONGODB_URI="mongodb://127.0.0.1:$port/?directConnection=true&serverSelectionTimeoutMS=3000"
}

mkdir -p "$WORK"

if [[ ! -x "$VENV/bin/pip" ]]; then
    step "creating the Python venv $VENV"
    if ! python3 -m venv "$VENV"; then
        echo "python3 -m venv failed; on Debian, install the python3-venv package" >&2
        exit 1
    fi
fi
export MAESTRO_TEST_VENV="$VENV"

step "installing the PyPI test tools"
install_test_tools

if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    step "installing chromium and chromium-driver (apt-get) for the page tests"
    install_chromium
fi

start_mongodb_wire_server

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The screenshots in screenshots/ are drawn from the real rendering code: they must be
# current (regenerate with `cargo run -p maestro-e2e --bin maestro-screenshots`).
step "screenshots are current"
cargo run --quiet -p maestro-e2e --bin maestro-screenshots -- --check

# Doc tests first, so that the closing summary is the one of the whole test run.
step "cargo test --workspace --doc"
cargo test --workspace --doc

if cargo nextest --version >/dev/null 2>&1; then
    step "cargo nextest run --workspace"
    cargo nextest run --workspace
else
    step "cargo test --workspace (cargo-nextest is not installed)"
    cargo test --workspace
fi

# Last, so that what fuzzing finds (a 5xx, an answer the document does not describe) is the
# closing failure: schemathesis against a real server, from its own /latest/openapi.json.
step "schemathesis from /latest/openapi.json (scripts/fuzz-openapi.sh)"
bash scripts/fuzz-openapi.sh
