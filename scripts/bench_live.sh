#!/usr/bin/env bash
# Live view benchmark on loopback: `fightwatch run` with one 1080p25 H.264 camera (made here
# with the ffmpeg CLI, looping in real time, the demo model scoring it), then 0, 1, 5 and 20
# viewers, SECONDS each, first of /api/cameras/cam/live.mjpeg (JPEGs encoded here, shared by
# the camera's viewers), then of /api/cameras/cam/live.ws (the camera's own H.264 as fMP4, no
# encoder). Each viewer is its own user (the server allows 4 live views a user). Reports the
# server's CPU (user + system, /proc) per run, the JPEGs it encoded, and what each viewer
# received (kbit/s, pictures). Bounded: every viewer (`live-viewers`, crates/loadgen) stops by
# itself.
#
#   bash scripts/bench_live.sh            (SECONDS=10 by default)
#
# One JSON line per run, also in target/bench/live.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
cargo build --release --locked -q -p fightwatch -p fightwatch-loadgen
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
tokens=()
for i in $(seq 20); do
  tokens+=("$(target/release/fightwatch token --user "viewer$i" --role viewer --data-dir "$work/data")")
done
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
encoded() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" | awk '$1=="fightwatch_live_frames_encoded_total"{print $2}'; }
sleep 3 # the camera and the model warm up
out=target/bench/live.jsonl
: > "$out"
for kind in mjpeg ws; do
  for viewers in 0 1 5 20; do
    c0=$(cpu); e0=$(encoded)
    if [ "$viewers" -gt 0 ]; then
      got=$(target/release/live-viewers --port "$port" --camera cam --kind "$kind" \
        --seconds "$SECONDS_PER_RUN" "${tokens[@]:0:$viewers}")
    else
      sleep "$SECONDS_PER_RUN"; got='{}'
    fi
    c1=$(cpu); e1=$(encoded)
    python3 - "$kind" "$viewers" "$c0" "$c1" "$e0" "$e1" "$SECONDS_PER_RUN" "$got" <<'PY' | tee -a "$out"
import json, sys
k, v, c0, c1, e0, e1, s, got = sys.argv[1:]
got = json.loads(got)
print(json.dumps({"kind": k, "viewers": int(v),
                  "server_cpu_percent": round((float(c1) - float(c0)) / float(s), 1),
                  "jpegs_encoded": int(float(e1) - float(e0)), "seconds": float(s),
                  "kbit_s_per_viewer": got.get("kbit_s_per_viewer", 0),
                  "pictures_per_viewer": got.get("pictures_per_viewer", [])}))
PY
  done
done
