#!/usr/bin/env bash
# mc3_18's trade-off between input size and accuracy, measured: the shipped FP32 and INT8 weights
# at 16x112^2 (today), 8x112^2, 16x80^2 and 8x80^2 (scripts/make_input_variants.py: the ONNX
# input made symbolic, no retraining), each on the real footage's test split
# (`fightwatch eval --split test --decide window`) and alone on synthetic clips
# (`fightwatch model bench --batch 1`: ms a clip on this machine), with GMAC a clip
# (scripts/model_macs.py). Writes the table and a Pareto plot (docs/models-input-sizes.svg) into
# docs/models.md between the bench_input_sizes markers; raw lines in docs/bench/input-sizes.jsonl.
#
#   bash scripts/bench_input_sizes.sh
#   VARIANTS="16x112 8x80" bash scripts/bench_input_sizes.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA=${DATA:-"$ROOT/../shared/data/surveillance-fight"}
VARIANTS=${VARIANTS:-"16x112 8x112 16x80 8x80"}
[ -f "$DATA/split.csv" ] || { echo "bench_input_sizes: no split.csv in $DATA (set DATA=)" >&2; exit 1; }
cargo build --release --locked -q -p fightwatch
args=()
for v in $VARIANTS; do args+=(--variant "$v"); done
.cache/venv/bin/python scripts/make_input_variants.py --out target/variants "${args[@]}" >/dev/null
out=target/bench/input-sizes.jsonl
: > "$out"
for package in fight-mc3-18 fight-mc3-18-int8; do
  for v in $VARIANTS; do
    dir="target/variants/$package-$v"
    echo "bench_input_sizes: $package at $v" >&2
    bench=$(RUST_LOG=warn target/release/fightwatch model bench "$dir" --batch 1 --seconds 5 --json)
    eval_json=$(RUST_LOG=warn target/release/fightwatch eval "$DATA" --split test --decide window \
      --score-every-window --model "$dir" --out "target/bench/input-sizes/$package-$v" --json)
    gmac=$(.cache/venv/bin/python scripts/model_macs.py "$dir/model.onnx" --frames "${v%x*}" --size "${v#*x}" --json)
    python3 -c '
import json, sys
b, e, g = (json.loads(a) for a in sys.argv[1:4])
print(json.dumps({"package": sys.argv[4], "variant": sys.argv[5], "precision_kind": sys.argv[6],
  "ms_per_clip": b["batches"][0]["run_ms_p50"], "roc_auc": e["roc_auc"], "accuracy": e["accuracy"],
  "precision": e["precision"], "recall": e["recall"], "decided_by": e["decided_by"],
  "gmac": g["gmac"], "date": sys.argv[7]}))' \
      "$bench" "$eval_json" "$gmac" "$package" "$v" "$([ "$package" = fight-mc3-18 ] && echo FP32 || echo INT8)" \
      "$(date -u +%F)" | tee -a "$out"
  done
done
cp "$out" docs/bench/input-sizes.jsonl

python3 - "$out" <<'EOF'
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base = next((r for r in rows if r["precision_kind"] == "INT8" and r["variant"] == "16x112"), None)
lines = [
    "| input (frames × size²) | weights | ROC AUC (test) | accuracy / precision / recall at 0.6 | ms a clip | vs INT8 16×112² | GMAC a clip |",
    "|---|---|---|---|---|---|---|",
]
for r in sorted(rows, key=lambda r: r["ms_per_clip"]):
    speed = f'{base["ms_per_clip"] / r["ms_per_clip"]:.1f}x' if base else "—"
    frames, size = r["variant"].split("x")
    lines.append(
        f'| {frames} × {size}² | {r["precision_kind"]} | {r["roc_auc"]:.3f} | '
        f'{r["accuracy"]:.3f} / {r["precision"]:.3f} / {r["recall"]:.3f} | {r["ms_per_clip"]:.0f} | {speed} | {r["gmac"]:.2f} |'
    )

# The Pareto plot: AUC against ms a clip (log), the front joined.
W, H, L, R, T, B = 720, 420, 70, 110, 40, 50
import math
xs = [r["ms_per_clip"] for r in rows]
lo, hi = math.log10(min(xs) * 0.8), math.log10(max(xs) * 1.2)
ylo = math.floor((min(r["roc_auc"] for r in rows) - 0.01) * 100) / 100
def px(ms): return L + (math.log10(ms) - lo) / (hi - lo) * (W - L - R)
def py(auc): return T + (1.0 - auc) / (1.0 - ylo) * (H - T - B)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="DejaVu Sans, sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="22" text-anchor="middle" font-size="15">mc3_18 input size: test-split ROC AUC vs ms a clip (2 cores)</text>',
       f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
       f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>',
       f'<text x="{(L+W-R)/2}" y="{H-12}" text-anchor="middle">ms a clip, model alone (log scale)</text>',
       f'<text x="16" y="{(T+H-B)/2}" text-anchor="middle" transform="rotate(-90 16 {(T+H-B)/2})">ROC AUC</text>']
for ms in (25, 50, 100, 200, 400, 800):
    if lo <= math.log10(ms) <= hi:
        svg.append(f'<line x1="{px(ms):.1f}" y1="{H-B}" x2="{px(ms):.1f}" y2="{H-B+5}" stroke="black"/><text x="{px(ms):.1f}" y="{H-B+18}" text-anchor="middle">{ms}</text>')
for k in range(round((1.0 - ylo) / 0.01) + 1):
    auc = ylo + 0.01 * k
    svg.append(f'<line x1="{L-5}" y1="{py(auc):.1f}" x2="{W-R}" y2="{py(auc):.1f}" stroke="#ddd"/><text x="{L-8}" y="{py(auc)+4:.1f}" text-anchor="end">{auc:.2f}</text>')
front, best = [], -1.0
for r in sorted(rows, key=lambda r: r["ms_per_clip"]):
    if r["roc_auc"] > best:
        front.append(r); best = r["roc_auc"]
svg.append('<polyline fill="none" stroke="#c00" stroke-width="1.5" points="' + " ".join(f'{px(r["ms_per_clip"]):.1f},{py(r["roc_auc"]):.1f}' for r in front) + '"/>')
for k, r in enumerate(sorted(rows, key=lambda r: r["ms_per_clip"])):
    colour = "#1f5fbf" if r["precision_kind"] == "INT8" else "#444"
    x, y = px(r["ms_per_clip"]), py(r["roc_auc"])
    dy = -8 if k % 2 == 0 else 16
    svg.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/><text x="{x+7:.1f}" y="{y+dy:.1f}">{r["precision_kind"]} {r["variant"]}</text>')
svg.append("</svg>")
open("docs/models-input-sizes.svg", "w").write("\n".join(svg) + "\n")

dates = sorted({r["date"] for r in rows})
table = "\n".join(lines) + (
    f"\n\n![mc3_18 input sizes: AUC vs ms a clip](models-input-sizes.svg)\n\n"
    f"Measured {', '.join(dates)} by `bash scripts/bench_input_sizes.sh` (raw lines: "
    "[bench/input-sizes.jsonl](bench/input-sizes.jsonl)); the red line joins the variants no other "
    "beats on both.\n")
sys.path.insert(0, "scripts")
from docs_markers import replace
replace("docs/models.md", "bench_input_sizes", table)
EOF
echo "bench_input_sizes: table and plot written to docs/models.md" >&2
