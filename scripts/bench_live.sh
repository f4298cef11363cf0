#!/usr/bin/env bash
# Live view benchmark on loopback: `fightwatch run` with one 1080p25 H.264 camera (made here
# with the ffmpeg CLI, looping in real time, the demo model scoring it), then 0, 1, 5 and 20
# viewers of /api/cameras/cam/live.mjpeg (curl), SECONDS each. Reports the server's CPU (user +
# system, /proc) per run and the JPEGs it encoded: viewers share one encoder per camera, so
# CPU should barely move with their number. Bounded: every viewer stops by itself (--max-time).
#
#   bash scripts/bench_live.sh            (SECONDS=10 by default)
#
# One JSON line per run, also in target/bench/live.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
cargo build --release --locked -q -p fightwatch
mkdir -p target/bench
clip=target/bench/live_1080p.mp4
[ -f "$clip" ] || ffmpeg -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=25:duration=20 \
  -c:v libx264 -preset veryfast -b:v 4M -g 50 -pix_fmt yuv420p "$clip"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/fightwatch.toml" <<TOML
[model]
package = "$ROOT/models/fight-demo"
threads = 1
[server]
bind = "127.0.0.1:$port"
[storage]
data_dir = "data"
[evidence]
clips = false
live_fps = 5.0
[[cameras]]
name = "cam"
source = "$ROOT/$clip"
TOML
export FIGHTWATCH_JWT_SECRET="bench secret, long enough to be fine"
RUST_LOG=warn target/release/fightwatch run --config "$work/fightwatch.toml" 2>"$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
token=$(target/release/fightwatch token --user bench --role admin --data-dir "$work/data")
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
encoded() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" | awk '$1=="fightwatch_live_frames_encoded_total"{print $2}'; }
sleep 3 # the camera and the model warm up
out=target/bench/live.jsonl
: > "$out"
for viewers in 0 1 5 20; do
  c0=$(cpu); e0=$(encoded)
  pids=()
  for _ in $(seq "$viewers"); do
    curl -s -N -H "Authorization: Bearer $token" --max-time "$SECONDS_PER_RUN" -o /dev/null \
      "http://127.0.0.1:$port/api/cameras/cam/live.mjpeg" &
    pids+=($!)
  done
  sleep "$SECONDS_PER_RUN"
  for p in "${pids[@]}"; do wait "$p" || true; done
  c1=$(cpu); e1=$(encoded)
  python3 - "$viewers" "$c0" "$c1" "$e0" "$e1" "$SECONDS_PER_RUN" <<'PY' | tee -a "$out"
import json, sys
v, c0, c1, e0, e1, s = sys.argv[1:]
print(json.dumps({"viewers": int(v), "server_cpu_percent": round((float(c1) - float(c0)) / float(s), 1),
                  "jpegs_encoded": int(float(e1) - float(e0)), "seconds": float(s)}))
PY
done
