#!/usr/bin/env bash
# Soak benchmark: memory over time. `fightwatch run` on the example config (four looping
# real-time cameras, demo model, alerts raised all along) for DURATION seconds (default 3600),
# its RSS, anonymous memory, threads and descriptors sampled every INTERVAL seconds (default
# 60). Passes when every sample from SETTLE seconds on (default 600) is within ±10 MB of the
# sample at SETTLE. Bounded: it stops the server itself at the end.
#
#   bash scripts/bench_soak.sh                      one hour
#   DURATION=900 INTERVAL=30 bash scripts/bench_soak.sh
#
# Writes target/bench/soak.jsonl (one line per sample, then a summary) and target/bench/soak.svg
# (RSS over time); progress on stderr.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION=${DURATION:-3600}
INTERVAL=${INTERVAL:-60}
SETTLE=${SETTLE:-600}
MALLOC_ENV=${MALLOC_ENV:-}
cargo build --release --locked -q -p fightwatch
mkdir -p target/bench
out=target/bench/soak.jsonl
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s#\"\\.\\./#\"$ROOT/#g" -e "s#^bind = .*#bind = \"127.0.0.1:$port\"#" \
  -e "s#^data_dir = .*#data_dir = \"$work/data\"#" docs/fightwatch.example.toml > "$work/fightwatch.toml"
env $MALLOC_ENV target/release/fightwatch -q run --config "$work/fightwatch.toml" 2>"$work/server.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
: > "$out"
start=$(date +%s)
while :; do
  now=$(date +%s)
  t=$((now - start))
  kill -0 "$server" 2>/dev/null || { echo "bench_soak: the server died; see its log:" >&2; cat "$work/server.log" >&2; exit 1; }
  read -r rss anon <<<"$(awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} END{print r, a}' "/proc/$server/status")"
  threads=$(awk '/^Threads/{print $2}' "/proc/$server/status")
  fds=$(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l)
  alerts=$(find "$work/data" -name '*.jpg' 2>/dev/null | wc -l)
  printf '{"t_s": %d, "rss_kb": %d, "anon_kb": %d, "threads": %d, "fds": %d, "snapshots": %d}\n' \
    "$t" "$rss" "$anon" "$threads" "$fds" "$alerts" | tee -a "$out" >&2
  [ "$t" -ge "$DURATION" ] && break
  sleep "$INTERVAL"
done
python3 - "$out" "$SETTLE" "$MALLOC_ENV" <<'PY'
import json, sys
path, settle, malloc_env = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [json.loads(l) for l in open(path)]
after = [r for r in rows if r["t_s"] >= settle]
base = after[0]["rss_kb"] if after else None
worst = max((abs(r["rss_kb"] - base) for r in after), default=None)
summary = {
    "summary": True, "duration_s": rows[-1]["t_s"], "settle_s": settle, "malloc_env": malloc_env,
    "rss_mb_first": round(rows[0]["rss_kb"] / 1024, 1),
    "rss_mb_at_settle": round(base / 1024, 1) if base else None,
    "rss_mb_last": round(rows[-1]["rss_kb"] / 1024, 1),
    "rss_mb_max_deviation_after_settle": round(worst / 1024, 1) if worst is not None else None,
    "threads": [rows[0]["threads"], rows[-1]["threads"]], "fds": [rows[0]["fds"], rows[-1]["fds"]],
    "flat_within_10mb": worst is not None and worst <= 10 * 1024,
}
with open(path, "a") as f:
    f.write(json.dumps(summary) + "\n")
print(json.dumps(summary))
# A small SVG of RSS over time (no plotting library needed).
W, H, pad = 720, 300, 50
# From the first minute on (the first sample is the process starting up).
shown = [r for r in rows if r["t_s"] >= 60] or rows
ts = [r["t_s"] / 60 for r in shown]
ys = [r["rss_kb"] / 1024 for r in shown]
band = [base / 1024 - 10, base / 1024 + 10] if base else []
lo, hi = min(ys + band) - 2, max(ys + band) + 2
x = lambda t: pad + (W - 2 * pad) * (t / max(ts[-1], 1e-9))  # from 0 min
y = lambda v: H - pad - (H - 2 * pad) * (v - lo) / max(hi - lo, 1e-9)
pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(ts, ys))
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{pad}" y="20">fightwatch run, example config: RSS (MB) over minutes</text>',
       f'<line x1="{pad}" y1="{H-pad}" x2="{W-pad}" y2="{H-pad}" stroke="black"/>',
       f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{H-pad}" stroke="black"/>',
       f'<text x="5" y="{y(hi)+4:.0f}">{hi:.0f}</text><text x="5" y="{y(lo)+4:.0f}">{lo:.0f}</text>',
       f'<text x="{W-pad-20}" y="{H-pad+18}">{ts[-1]:.0f} min</text>']
if base:
    for b in (base / 1024 - 10, base / 1024 + 10):
        svg.append(f'<line x1="{x(settle/60):.1f}" y1="{y(b):.1f}" x2="{W-pad}" y2="{y(b):.1f}" stroke="#bbb" stroke-dasharray="4"/>')
svg.append(f'<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{pts}"/>')
svg.append("</svg>")
open(path.replace(".jsonl", ".svg"), "w").write("\n".join(svg))
sys.exit(0 if summary["flat_within_10mb"] else 1)
PY
