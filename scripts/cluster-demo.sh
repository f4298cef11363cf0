#!/usr/bin/env bash
# fightwatch on several nodes, on one machine: a throw-away PostgreSQL and Redis (loopback, in a
# temp dir) and three nodes sharing four looping cameras. The console is on every node.
# Kill a node (the script says how) and watch its cameras move to the others.
#
#   ./scripts/cluster-demo.sh           runs until Ctrl-C, then stops everything it started
#   ./scripts/cluster-demo.sh --check   starts it, kills the busiest node, reports how long its
#                                       cameras took to run elsewhere, stops (bounded, ~1 min)
#
# docs/deploy.md explains what runs where and what each failure does.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
check=false
[ "${1:-}" = "--check" ] && check=true

bash scripts/setup.sh >&2
cargo build --release --locked -p fightwatch >&2
bin=$ROOT/target/release/fightwatch

source scripts/cluster-servers.sh
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  cluster_servers_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster_servers_start
work=$CLUSTER_WORK
echo "cluster-demo: PostgreSQL and Redis in $work" >&2
export FIGHTWATCH_DATABASE_URL=$CLUSTER_DB_URL FIGHTWATCH_REDIS_URL=$CLUSTER_REDIS_URL
FIGHTWATCH_JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export FIGHTWATCH_JWT_SECRET
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
echo "$password" | "$bin" -q user add admin --role admin --password-stdin --data-dir "$work" >/dev/null

declare -A node_pid node_port
for n in 1 2 3; do
  port=$(cluster_free_port)
  node_port[node-$n]=$port
  cat > "$work/node-$n.toml" <<TOML
[model]
package = "$ROOT/models/fight-demo"
threads = 1
[server]
bind = "127.0.0.1:$port"
web_dir = "$ROOT/web/dist"
[storage]
data_dir = "$work/node-$n"
[cluster]
node = "node-$n"
lease_ms = 4000
[[cameras]]
name = "entrance"
source = "$ROOT/fixtures/fight_mid_walk.mp4"
[[cameras]]
name = "lobby"
source = "$ROOT/fixtures/crossing_crowd.mp4"
analysis_fps = 15
[[cameras]]
name = "yard"
source = "$ROOT/fixtures/fight_mid_talk.mkv"
site = "depot"
[[cameras]]
name = "parking"
source = "$ROOT/fixtures/fight_parking.avi"
site = "depot"
TOML
  RUST_LOG=${RUST_LOG:-warn} "$bin" run --config "$work/node-$n.toml" 2>"$work/node-$n.log" &
  node_pid[node-$n]=$!
  pids+=($!)
done
for n in 1 2 3; do
  for _ in $(seq 120); do
    curl -fs "http://127.0.0.1:${node_port[node-$n]}/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
done

# With --config the status lists every camera of the file, dark ones too.
status() { "$bin" cluster status --config "$work/node-1.toml" "$@"; }
# Until every camera runs somewhere, spread over the three nodes (at most 2 each).
for _ in $(seq 150); do
  settled=$(status --json | python3 -c '
import collections, json, sys
v = json.load(sys.stdin)
held = [c["node"] for c in v["cameras"] if c["node"]]
print(len(held) == 4 and max(collections.Counter(held).values()) <= 2)')
  [ "$settled" = True ] && break
  sleep 0.2
done
status >&2

if $check; then
  busiest=$(status --json | python3 -c '
import collections, json, sys
v = json.load(sys.stdin)
print(collections.Counter(c["node"] for c in v["cameras"]).most_common(1)[0][0])')
  echo "cluster-demo: kill -9 $busiest" >&2
  start=$(date +%s.%N)
  kill -KILL "${node_pid[$busiest]}"
  for _ in $(seq 200); do
    moved=$(status --json | python3 -c "
import json, sys
v = json.load(sys.stdin)
print(len(v['cameras']) == 4 and all(c['node'] and c['node'] != '$busiest' for c in v['cameras']))")
    [ "$moved" = True ] && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  status >&2
  python3 -c "print('cluster-demo: cameras of $busiest leased elsewhere after %.2f s' % ($end - $start))"
  [ "$moved" = True ] || { echo "cluster-demo: cameras did not move" >&2; exit 1; }
  exit 0
fi

cat <<TXT

  fightwatch on 3 nodes: PostgreSQL 127.0.0.1:$PG_PORT, Redis 127.0.0.1:$REDIS_PORT

    consoles  http://127.0.0.1:${node_port[node-1]}  http://127.0.0.1:${node_port[node-2]}  http://127.0.0.1:${node_port[node-3]}
    user      admin
    password  $password

  Which node runs which camera:
    FIGHTWATCH_REDIS_URL=$FIGHTWATCH_REDIS_URL FIGHTWATCH_DATABASE_URL=$FIGHTWATCH_DATABASE_URL $bin cluster status
  Kill a node and watch its cameras move (the console shows "on node-N" per camera):
    kill -9 ${node_pid[node-1]}   # node-1
    kill -9 ${node_pid[node-2]}   # node-2
    kill -9 ${node_pid[node-3]}   # node-3
  Ctrl-C stops everything.

TXT
wait
