#!/usr/bin/env bash
# The main job: sets up, builds a release fightwatch, and replays the bundled clips as four
# looping real-time cameras (docs/fightwatch.example.toml) through capture -> inference ->
# alerts -> WebSocket, with the web console on http://127.0.0.1:8080. Runs until Ctrl-C.
#
#   ./scripts/demo.sh                 the demo
#   FIGHTWATCH_CONFIG=my.toml ./scripts/demo.sh   your own cameras (see the example config)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
cargo build --release --locked -p fightwatch
bin=target/release/fightwatch
config=${FIGHTWATCH_CONFIG:-docs/fightwatch.example.toml}
# The example config keeps its data in fightwatch-data/ and listens on 127.0.0.1:8080.
data=${FIGHTWATCH_DATA:-fightwatch-data}
url=${FIGHTWATCH_URL:-http://127.0.0.1:8080}

"$bin" run --config "$config" "$@" &
pid=$!
# Ctrl-C (or a TERM) stops the service cleanly: dashboards get a "going away" close.
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM

for _ in $(seq 1 120); do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" || status=$?
    echo "demo: fightwatch stopped before it was ready (exit ${status:-0}); see the messages above" >&2
    exit "${status:-1}"
  fi
  curl -fs "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done

if [ -f "$data/admin_password" ]; then
  password=$(cat "$data/admin_password")
else
  password="(set before; reset it with: $bin user add admin --role admin --password-stdin --data-dir $data)"
fi
cat <<TXT

  fightwatch demo: 4 cameras (entrance, lobby, yard, parking) replaying fixtures in real time

    console   $url
    user      admin
    password  $password

  API for scripts: docs/protocol.md (token: $bin token --user NAME --role viewer --data-dir $data)
  Ctrl-C stops it.

TXT
# `wait` returns early when a signal arrives; keep waiting until the service has shut down.
status=0
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid" || status=$?
done
exit "$status"
