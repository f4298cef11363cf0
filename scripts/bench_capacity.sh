#!/usr/bin/env bash
# Capacity benchmark: how many real-model cameras one box analyses in real time.
#
# `fightwatch run` with N looping real-time cameras and mc3_18 on CPU, on a realistic mix: a
# quarter of the cameras (rounded up) show people moving (the calm fixtures: walking, running,
# a crowd crossing), the rest quiet scenes (fixtures/quiet/: fixed cameras on empty scenes with
# sensor noise and flicker). N goes up by one until some camera's analysis lags more than
# LAG_MS (default 1,000 ms) behind its camera: the lag of a window is the time from its last
# frame's capture to its score (or to the decision not to score it), as the server reports it
# in /metrics (fightwatch_camera_analysis_lag_ms, the worst of each second). The first WARMUP seconds of
# each run are not counted.
#
#   bash scripts/bench_capacity.sh                 every mode below, one after the other
#   MODES="gated" bash scripts/bench_capacity.sh   one mode
#
# Modes: "baseline" scores every window ([pipeline] gate = false); "gated" leaves still and
# far-below-threshold windows unscored (the default since issue #16). MODEL picks the model
# package (default models/fight-mc3-18-6x80-int8, the CPU default). Bounded: each run stops after SECONDS (default 40),
# N stops at MAX_N (default 16). One JSON line per run, also in target/bench/capacity.jsonl;
# the last line per mode says the largest N that kept up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODES=${MODES:-"baseline gated"}
MODEL=${MODEL:-models/fight-mc3-18-6x80-int8}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-40}
WARMUP=${WARMUP:-12}
LAG_MS=${LAG_MS:-1000}
MAX_N=${MAX_N:-16}
FROM_N=${FROM_N:-1}
[ -f "$MODEL/model.onnx" ] || { echo "bench_capacity: $MODEL/model.onnx is missing: run scripts/setup.sh" >&2; exit 1; }
cargo build --release --locked -q -p fightwatch
bin="$ROOT/target/release/fightwatch"
mkdir -p target/bench
out=target/bench/capacity.jsonl
moving=(walk_street.mp4 crossing_crowd.mp4 run_park.mp4 walk_then_run.mp4 wave_hello.mp4 talk_two.webm)
quiet=(quiet/empty_lobby.mp4 quiet/empty_lot.mp4)
pid=""
work=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT

# Runs N cameras in MODE; prints one JSON line; exit status 0 when every camera kept up.
run_one() {
  # Runs in a $(...) subshell: its own trap stops its server if the bench is interrupted.
  trap cleanup EXIT
  local mode=$1 n=$2 gate
  gate=$([ "$mode" = baseline ] && echo false || echo true)
  work=$(mktemp -d)
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$work/fightwatch.toml" <<TOML
[model]
package = "$ROOT/$MODEL"
threads = 0
[pipeline]
gate = $gate
[server]
bind = "127.0.0.1:$port"
[storage]
data_dir = "data"
TOML
  local movers=$(((n + 3) / 4)) i src
  for ((i = 0; i < n; i++)); do
    if ((i < movers)); then src=${moving[$((i % ${#moving[@]}))]}; else src=${quiet[$((i % ${#quiet[@]}))]}; fi
    printf '[[cameras]]\nname = "cam%02d"\nsource = "%s/fixtures/%s"\n' "$i" "$ROOT" "$src" >> "$work/fightwatch.toml"
  done
  (cd "$work" && exec "$bin" -q run --config fightwatch.toml) &
  pid=$!
  local ok=""
  for _ in $(seq 1 120); do
    if curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then ok=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  [ -n "$ok" ] || { echo "bench_capacity: fightwatch did not start" >&2; exit 1; }
  local token
  token=$("$bin" -q token --user bench --role viewer --data-dir "$work/data")
  local status=0
  python3 - "$port" "$token" "$mode" "$n" "$movers" "$SECONDS_PER_RUN" "$WARMUP" "$LAG_MS" "$MODEL" "$pid" <<'PY' || status=$?
import json, re, sys, time, urllib.request
port, token, mode, n, movers, seconds, warmup, lag_ms, model, pid = sys.argv[1:]
n, movers, seconds, warmup, lag_ms = int(n), int(movers), float(seconds), float(warmup), float(lag_ms)
line = re.compile(r'^fightwatch_camera_(analysis_lag_ms|inference_fps|skipped_fps|capture_fps)\{camera="([^"]+)"\} ([0-9.eE+-]+)$')
lag, scored, skipped, captured, cpu = {}, {}, {}, {}, []
def ticks():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
start = time.monotonic()
cpu0 = None
while time.monotonic() - start < seconds:
    time.sleep(1.0)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"})
    text = urllib.request.urlopen(req, timeout=5).read().decode()
    if time.monotonic() - start < warmup:
        continue
    if cpu0 is None:
        cpu0 = (ticks(), time.monotonic())
    for l in text.splitlines():
        m = line.match(l)
        if not m:
            continue
        kind, cam, v = m.group(1), m.group(2), float(m.group(3))
        {"analysis_lag_ms": lag, "inference_fps": scored, "skipped_fps": skipped, "capture_fps": captured}[kind].setdefault(cam, []).append(v)
t1, w1 = ticks(), time.monotonic()
cams = sorted(captured)
worst = max((max(lag.get(c, [0.0])) for c in cams), default=float("inf"))
# A camera with no window decided at all in the measured time did not keep up either.
starved = [c for c in cams if sum(scored.get(c, [])) + sum(skipped.get(c, [])) == 0]
ok = len(cams) == n and worst <= lag_ms and not starved
mean = lambda d: sum(sum(v) / len(v) for v in d.values() if v)
result = {
    "mode": mode, "model": model, "cameras": n, "moving": movers, "kept_up": ok,
    "worst_lag_ms": round(worst, 1),
    "worst_lag_camera": max(cams, key=lambda c: max(lag.get(c, [0.0]))) if cams else None,
    "starved": starved,
    "windows_scored_per_s": round(mean(scored), 2),
    "windows_skipped_per_s": round(mean(skipped), 2),
    "cpu_percent": round(100 * (t1 - cpu0[0]) / 100 / (w1 - cpu0[1]), 1) if cpu0 else None,
    "seconds": seconds - warmup,
}
print(json.dumps(result), flush=True)
sys.exit(0 if ok else 3)
PY
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
  rm -rf "$work"
  work=""
  return $status
}

for mode in $MODES; do
  best=0
  for ((n = FROM_N; n <= MAX_N; n++)); do
    echo "bench_capacity: $mode, $n cameras ($SECONDS_PER_RUN s)..." >&2
    if line=$(run_one "$mode" "$n"); then
      echo "$line" | tee -a "$out"
      best=$n
    else
      echo "$line" | tee -a "$out"
      break
    fi
  done
  echo "{\"mode\": \"$mode\", \"model\": \"$MODEL\", \"largest_n_in_real_time\": $best, \"lag_limit_ms\": $LAG_MS}" | tee -a "$out"
done
