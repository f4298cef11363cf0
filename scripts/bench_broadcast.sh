#!/usr/bin/env bash
# Broadcast benchmark on loopback: `fightwatch serve` + `fightwatch-loadgen`, 1,000 and 10,000
# dashboards, 100 alerts each run. Bounded: each run stops by itself (loadgen --timeout).
#
#   bash scripts/bench_broadcast.sh [CLIENTS...]     (default: 1000 10000)
#   RATE=5 bash scripts/bench_broadcast.sh 10000     alerts per second (default 40)
#
# Prints one JSON line per run and writes them to target/bench/broadcast.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ulimit -n "$(ulimit -Hn)"  # each process holds one descriptor per connection
cargo build --release --locked -q -p fightwatch -p fightwatch-loadgen
mkdir -p target/bench
out=target/bench/broadcast.jsonl
: > "$out"
data=$(mktemp -d)
export FIGHTWATCH_JWT_SECRET="bench secret, long enough to be fine"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn target/release/fightwatch serve --bind "127.0.0.1:$port" --data-dir "$data" --max-connections-per-ip 20000 --max-websockets 20000 --max-http-connections-per-ip 1024 2>target/bench/broadcast-server.log &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
viewer=$(target/release/fightwatch token --user bench --role viewer --data-dir "$data")
# One detector user per publisher: the server limits WebSocket messages per user (20/s after a
# burst of 40, docs/security.md), so four publishers of one user could not offer 40 alerts/s.
detectors=()
for k in 1 2 3 4; do
  detectors+=(--publisher-token "$(target/release/fightwatch token --user "cam$k" --role detector --data-dir "$data")")
done
for clients in "${@:-1000 10000}"; do
  for n in $clients; do
    target/release/fightwatch-loadgen --url "ws://127.0.0.1:$port/ws" --clients "$n" --alerts 100 --rate "${RATE:-40}" --publishers 4 \
      --token "$viewer" "${detectors[@]}" --server-pid "$server" --timeout 60 --json | tee -a "$out"
  done
done
