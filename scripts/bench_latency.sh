#!/usr/bin/env bash
# Frame to dashboard, with the stages in between: `fightwatch run` on the example config (four
# real-time cameras, demo model, CPU) and 10 dashboards watching for WATCH_S seconds (default 60):
# fightwatch-loadgen --watch takes each fight_alert's arrival time minus its `started_at` (the
# capture time of the frame that confirmed the fight). The server runs with
# FIGHTWATCH_SPAN_TIMES=1, so its log gives each stage's time: model_run, snapshot_jpeg,
# alert_stage (store, media, publish), and when each incident start reached the alert stage.
#
# CONFIG=FILE runs another config (paths as in docs/fightwatch.example.toml: relative to docs/,
# or absolute), e.g. a real model on the fixtures/corner clips, whose alerts carry heat maps
# (the heatmap_jpeg stage).
#
#   bash scripts/bench_latency.sh          one JSON line, also in target/bench/latency.jsonl
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WATCH_S=${WATCH_S:-60}
cargo build --release --locked -q -p fightwatch -p fightwatch-loadgen
mkdir -p target/bench
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s#\"\\.\\./#\"$ROOT/#g" -e "s#^bind = .*#bind = \"127.0.0.1:$port\"#" \
  -e "s#^data_dir = .*#data_dir = \"$work/data\"#" "${CONFIG:-docs/fightwatch.example.toml}" > "$work/fightwatch.toml"
export FIGHTWATCH_JWT_SECRET="latency bench secret, long enough"
FIGHTWATCH_SPAN_TIMES=1 RUST_LOG="info,fightwatch_inference=debug,fightwatch_alerts=debug" \
  target/release/fightwatch run --config "$work/fightwatch.toml" 2>"$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
token=$(target/release/fightwatch token --user bench --role viewer --data-dir "$work/data")
watch=$(target/release/fightwatch-loadgen --url "ws://127.0.0.1:$port/ws" --clients 10 \
  --watch "$WATCH_S" --token "$token")
kill -TERM "$server"; wait "$server" 2>/dev/null || true
python3 - "$work/server.log" "$watch" <<'PY' | tee -a target/bench/latency.jsonl
import json, re, sys
log, watch = open(sys.argv[1], errors="replace").read(), json.loads(sys.argv[2])
ansi = re.compile(r"\x1b\[[0-9;]*m")
log = ansi.sub("", log)
def ms(v):
    m = re.match(r"([0-9.]+)(ns|µs|us|ms|s)$", v)
    return float(m.group(1)) * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)] if m else None
stages = {}
for line in log.splitlines():
    m = re.search(r"(model_run|snapshot_jpeg|heatmap_jpeg|alert_stage)\{[^}]*\}?.*?close time\.busy=(\S+) time\.idle=(\S+)", line) \
        or re.search(r"(model_run|snapshot_jpeg|heatmap_jpeg|alert_stage).*close time\.busy=(\S+) time\.idle=(\S+)", line)
    if m:
        busy, idle = ms(m.group(2)), ms(m.group(3))
        if busy is not None and idle is not None:
            stages.setdefault(m.group(1), []).append(busy + idle)
    for key, name in (("since_frame_ms", "frame_to_alert_stage"), ("stored_after_frame_ms", "frame_to_stored_and_published")):
        m = re.search(key + r"=(\d+)", line)
        if m:
            stages.setdefault(name, []).append(float(m.group(1)))
def p50(v):
    v = sorted(v)
    return round(v[len(v) // 2], 2) if v else None
out = {**watch, "stages_p50_ms": {k: p50(v) for k, v in stages.items()}, "stage_samples": {k: len(v) for k, v in stages.items()}}
print(json.dumps(out))
PY
