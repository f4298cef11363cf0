#!/usr/bin/env bash
# Fan-out over several nodes vs one, in one run on loopback: the same fightwatch-loadgen (N
# dashboards, 100 alerts from 4 detectors at 40/s) against
#   1. one standalone node (SQLite, in-process bus: the embedded default),
#   2. one cluster node (PostgreSQL + Redis),
#   3. three cluster nodes (dashboards and detectors spread over them round robin).
# Reports delivery p50/p99, server memory per connection, and the CPU seconds Redis and
# PostgreSQL spent. Bounded: every run stops by itself; the servers are throw-away (temp dir).
#
#   bash scripts/bench_cluster.sh [CLIENTS]      (default 10000)
#
# Prints one JSON line per run and writes them to target/bench/cluster.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
clients=${1:-10000}
ulimit -n "$(ulimit -Hn)"  # each process holds one descriptor per connection
cargo build --release --locked -q -p fightwatch -p fightwatch-loadgen
bin=$ROOT/target/release/fightwatch
mkdir -p target/bench
out=target/bench/cluster.jsonl
: > "$out"

source scripts/cluster-servers.sh
nodes=()
stop_nodes() {
  for p in "${nodes[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${nodes[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  nodes=()
}
trap 'stop_nodes; cluster_servers_stop' EXIT
# CPU seconds (user + system, and of reaped children) of the given processes, from /proc.
cpu_s() {
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    # After the command name, which may hold spaces: utime stime cutime cstime are 12-15.
    total=$(sed 's/.*) //' "/proc/$p/stat" | awk -v t="$total" '{print t + ($12 + $13 + $14 + $15) / 100}')
  done
  echo "$total"
}
# The postmaster and its backends.
postgres_pids() {
  local pm
  pm=$(head -1 "$work/pg/postmaster.pid")
  echo "$pm $(pgrep -d ' ' -P "$pm" || true)"
}

cluster_servers_start
work=$CLUSTER_WORK
redis_pid=$REDIS_PID
db=$CLUSTER_DB_URL
redis=$CLUSTER_REDIS_URL
export FIGHTWATCH_JWT_SECRET="bench secret, long enough to be fine"
limits=(--max-connections-per-ip 20000 --max-websockets 20000 --max-http-connections-per-ip 1024)

# Starts $1 nodes (cluster mode unless $2 = standalone); sets urls, pidargs, nodes, data.
start_nodes() {
  local count=$1 mode=${2:-cluster} i port
  urls=(); pidargs=()
  data=$work/standalone
  for i in $(seq "$count"); do
    port=$(cluster_free_port)
    if [ "$mode" = standalone ]; then
      RUST_LOG=warn "$bin" serve --bind "127.0.0.1:$port" --data-dir "$data" "${limits[@]}" \
        2>>"$work/node.log" &
    else
      RUST_LOG=warn FIGHTWATCH_DATABASE_URL=$db FIGHTWATCH_REDIS_URL=$redis "$bin" serve \
        --bind "127.0.0.1:$port" --data-dir "$work/node-$i" --node "node-$i" "${limits[@]}" \
        2>>"$work/node.log" &
    fi
    nodes+=($!)
    pidargs+=(--server-pid "$!")
    urls+=(--url "ws://127.0.0.1:$port/ws")
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  done
}

tokens() {
  local env=() k
  [ "$1" = cluster ] && env=(env "FIGHTWATCH_DATABASE_URL=$db")
  viewer=$("${env[@]}" "$bin" token --user bench --role viewer --data-dir "$data")
  detectors=()
  for k in 1 2 3 4; do
    detectors+=(--publisher-token "$("${env[@]}" "$bin" token --user "cam$k" --role detector --data-dir "$data")")
  done
}

run() {
  local name=$1 count=$2 mode=$3
  start_nodes "$count" "$mode"
  tokens "$mode"
  local redis0 pg0 report
  redis0=$(cpu_s "$redis_pid")
  # shellcheck disable=SC2046
  pg0=$(cpu_s $(postgres_pids))
  report=$(target/release/fightwatch-loadgen "${urls[@]}" --clients "$clients" --alerts 100 \
    --rate "${RATE:-40}" --publishers 4 --token "$viewer" "${detectors[@]}" "${pidargs[@]}" \
    --timeout 90 --json)
  local redis1 pg1
  redis1=$(cpu_s "$redis_pid")
  # shellcheck disable=SC2046
  pg1=$(cpu_s $(postgres_pids))
  python3 -c "
import json, sys
r = json.loads(sys.argv[1])
r.update(setup=sys.argv[2], nodes=int(sys.argv[3]),
         redis_cpu_s=round(float(sys.argv[5]) - float(sys.argv[4]), 2),
         postgres_cpu_s=round(float(sys.argv[7]) - float(sys.argv[6]), 2))
print(json.dumps(r))" "$report" "$name" "$count" "$redis0" "$redis1" "$pg0" "$pg1" | tee -a "$out"
  stop_nodes
}

run "1 node, standalone (SQLite, in-process bus)" 1 standalone
run "1 node, PostgreSQL + Redis" 1 cluster
run "3 nodes, PostgreSQL + Redis" 3 cluster
