#!/bin/bash
# Run from the checkout after `cargo build --release -p maestro-server -p maestro-e2e --bins` and
# `bash scripts/test.sh` (which makes .venv-test with SecantusDB). Prints the figures of
# BENCHMARKS.md's multi-server section.
# POST /node with 8 clients over 1,2,3 servers on one MongoDB-wire server;
# fan-out latency to 100 WS subscribers spread over 3 servers at 30, 100 and 1000 events/s
# (100 also with the event feed reading by sequence every 20 ms instead of change streams).
set -u
R="$(cd "$(dirname "$0")/.." && pwd)/target/release"
PORT=27140
"$(dirname "$0")/../.venv-test/bin/secantusd-py" --host 127.0.0.1 --port $PORT --storage-path :memory: --log-level WARNING > /tmp/secb.log 2>&1 &
SEC=$!
sleep 2
run() { # n servers, db, then bench args
  local n=$1 db=$2; shift 2
  local pids=() urls=()
  for i in $(seq 1 $n); do
    local p=$((18200+i))
    rm -rf /tmp/sb$i
    MAESTRO_ADMIN_PASSWORD=bench $R/maestro-server --data-dir /tmp/sb$i --bind 127.0.0.1:$p --secret-key bench-shared \
      --mongodb-uri "mongodb://127.0.0.1:$PORT/?directConnection=true" --mongodb-database $db ${SERVER_EXTRA:-} > /tmp/sb$i.log 2>&1 &
    pids+=($!); urls+=(http://127.0.0.1:$p)
    sleep 1.5
  done
  sleep 2
  local U=$(IFS=,; echo "${urls[*]}") P=$(IFS=,; echo "${pids[*]}")
  echo "=== $n servers ${SERVER_EXTRA:-}: $*"
  $R/maestro-bench --urls $U --password bench --server-pid $P "$@" 2>&1 | tail -12
  kill ${pids[@]}; wait ${pids[@]} 2>/dev/null
}
run 1 b1 post --clients 8 --seconds 10
run 2 b2 post --clients 8 --seconds 10
run 3 b3 post --clients 8 --seconds 10
run 1 f1 fanout --ws 100 --longpoll 0 --rate 100 --seconds 10 --drain 10
run 3 f3 fanout --ws 100 --longpoll 0 --rate 100 --seconds 10 --drain 10
run 1 f1b fanout --ws 100 --longpoll 0 --rate 30 --seconds 15 --drain 10
run 3 f3b fanout --ws 100 --longpoll 0 --rate 30 --seconds 15 --drain 10
SERVER_EXTRA="--mongodb-event-feed-poll-ms 20" run 3 f3p fanout --ws 100 --longpoll 0 --rate 100 --seconds 15 --drain 10
run 1 g1 fanout --ws 100 --longpoll 0 --rate 1000 --seconds 10 --drain 15
run 3 g3 fanout --ws 100 --longpoll 0 --rate 1000 --seconds 10 --drain 15
kill $SEC
