#!/usr/bin/env bash
# Fan-out side by side: the same client (fightwatch-loadgen) and the same load against
#   fightwatch    `fightwatch serve` (auth, per-dashboard permissions, every alert stored first)
#   fightwatch-socketio   the same server's Socket.IO endpoint (/socket.io/), same checks
#   floor         a minimal tokio-tungstenite broadcaster (crates/loadgen/src/bin/broadcast-floor.rs:
#                 no auth, no store, one shared frame per alert) - what the machine can do
#   ws            the guide's Node `ws` server (scripts/bench_fanout/ws_server.mjs)
#   socketio      the guide's Socket.IO 4.8 server (scripts/bench_fanout/socketio_server.mjs)
# one after the other in one run, a fresh server each time. Loads (the issue's): 1,000 dashboards
# with 50 alerts at 50/s, and 10,000 dashboards with 20 alerts at 4/s; 4 publishers. Every run
# checks that every dashboard got every alert, all in the same order (loadgen exits 1 if not).
# Then a reconnect surge (SURGE dashboards, default 10,000, all connecting at once from 200
# loopback addresses, as after a restart) against fightwatch with its default connection caps
# and the floor: every dashboard must get in on its first attempt (connect_all_s compared).
#
#   bash scripts/bench_fanout.sh                     both loads and the surge, every server
#   SERVERS="fightwatch floor" LOADS="1000:50:50" SURGE=0 bash scripts/bench_fanout.sh
#   SERVERS=none LOADS= SURGE=10000 bash scripts/bench_fanout.sh      the surge alone
#
# Loopback only; each run stops by itself (loadgen --timeout). One JSON line per run, also in
# target/bench/fanout.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SERVERS=${SERVERS:-"fightwatch fightwatch-socketio floor ws socketio"}
LOADS=${LOADS-"1000:50:50 10000:20:4"}   # dashboards:alerts:rate
SURGE=${SURGE:-10000}
ulimit -n "$(ulimit -Hn)"
cargo build --release --locked -q -p fightwatch -p fightwatch-loadgen
source scripts/node-env.sh
(cd scripts/bench_fanout && npm ci --no-audit --no-fund --silent)
mkdir -p target/bench
out=target/bench/fanout.jsonl
export FIGHTWATCH_JWT_SECRET="bench secret, long enough to be fine"
server=""
data=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; [ -n "$data" ] && rm -rf "$data"; true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for load in $LOADS; do
  IFS=: read -r clients alerts rate <<<"$load"
  for kind in $SERVERS; do
    port=$(free_port)
    dialect=fightwatch
    url="ws://127.0.0.1:$port/ws"
    tokens=(--token none --publisher-token none)
    case "$kind" in
      fightwatch|fightwatch-socketio)
        data=$(mktemp -d)
        RUST_LOG=warn target/release/fightwatch serve --bind "127.0.0.1:$port" --data-dir "$data" \
          --max-connections-per-ip 20000 --max-websockets 20000 --max-http-connections-per-ip 1024 \
          2>target/bench/fanout-server.log &
        server=$!
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
        # One detector user per publisher: the server limits messages per user (docs/security.md).
        tokens=(--token "$(target/release/fightwatch token --user bench --role viewer --data-dir "$data")")
        for k in 1 2 3 4; do
          tokens+=(--publisher-token "$(target/release/fightwatch token --user "cam$k" --role detector --data-dir "$data")")
        done
        if [ "$kind" = fightwatch-socketio ]; then
          dialect=socketio
          url="ws://127.0.0.1:$port/socket.io/?EIO=4&transport=websocket"
        fi
        ;;
      floor)
        target/release/broadcast-floor "127.0.0.1:$port" &
        server=$!
        ;;
      ws)
        node scripts/bench_fanout/ws_server.mjs "$port" >/dev/null &
        server=$!
        ;;
      socketio)
        node scripts/bench_fanout/socketio_server.mjs "$port" >/dev/null &
        server=$!
        dialect=socketio
        url="ws://127.0.0.1:$port/socket.io/?EIO=4&transport=websocket"
        ;;
    esac
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    sleep 0.5
    echo "bench_fanout: $kind, $clients dashboards, $alerts alerts at $rate/s" >&2
    status=0
    line=$(target/release/fightwatch-loadgen --url "$url" --dialect "$dialect" --clients "$clients" \
      --alerts "$alerts" --rate "$rate" --publishers 4 "${tokens[@]}" --server-pid "$server" \
      --timeout 60 --json) || status=$?
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r={"server": sys.argv[2], "rate": float(sys.argv[3]), **r}; print(json.dumps(r))' \
      "$line" "$kind" "$rate" | tee -a "$out"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
    [ -n "$data" ] && rm -rf "$data"
    data=""
    [ "$status" = 0 ] || echo "bench_fanout: $kind lost or reordered alerts (see the line above)" >&2
  done
done

# The reconnect surge: fightwatch with its default caps (only max_websockets raised, for the
# publisher beside 10,000 dashboards) and the floor.
if [ "$SURGE" -gt 0 ]; then
  for kind in fightwatch floor; do
    port=$(free_port)
    tokens=(--token none --publisher-token none)
    if [ "$kind" = fightwatch ]; then
      data=$(mktemp -d)
      RUST_LOG=warn target/release/fightwatch serve --bind "127.0.0.1:$port" --data-dir "$data" \
        --max-websockets 20000 2>target/bench/fanout-server.log &
      server=$!
      for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
      tokens=(--token "$(target/release/fightwatch token --user bench --role viewer --data-dir "$data")"
        --publisher-token "$(target/release/fightwatch token --user cam1 --role detector --data-dir "$data")")
    else
      target/release/broadcast-floor "127.0.0.1:$port" &
      server=$!
    fi
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    sleep 0.5
    echo "bench_fanout: surge, $kind, $SURGE dashboards at once" >&2
    status=0
    line=$(target/release/fightwatch-loadgen --url "ws://127.0.0.1:$port/ws" --clients "$SURGE" \
      --connect-concurrency "$SURGE" --spread-addresses --alerts 1 --rate 1 --publishers 1 \
      "${tokens[@]}" --server-pid "$server" --timeout 60 --json) || status=$?
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r={"server": sys.argv[2], "mode": "surge", **r}; print(json.dumps(r))' \
      "$line" "$kind" | tee -a "$out"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
    [ -n "$data" ] && rm -rf "$data"
    data=""
    [ "$status" = 0 ] || echo "bench_fanout: surge against $kind: some dashboards were refused or lost the alert" >&2
  done
fi
