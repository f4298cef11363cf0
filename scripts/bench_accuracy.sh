#!/usr/bin/env bash
# Every shipped model over the real CCTV footage's test split (shared/data/surveillance-fight,
# split.csv: 30 fight + 30 noFight clips never used for training, calibration or thresholds):
# `fightwatch eval --split test --decide window --score-every-window`, then the table in
# docs/models.md (between the bench_accuracy markers): ROC AUC, accuracy / precision / recall at
# the start threshold, ms per clip on this machine (decode and model, 4 clips at a time, release
# build), GMAC per clip (scripts/model_macs.py).
#
#   bash scripts/bench_accuracy.sh                      every models/*/ package
#   MODELS="fight-mc3-18-int8" bash scripts/bench_accuracy.sh
#   DATA=/path/to/surveillance-fight bash scripts/bench_accuracy.sh
#
# Per-model reports (scores.csv/json, metrics.json, roc.png, scores.png) in
# target/bench/accuracy/MODEL/; one JSON line per model in target/bench/accuracy.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA=${DATA:-"$ROOT/../shared/data/surveillance-fight"}
MODELS=${MODELS:-$(cd models && ls -d */ | tr -d / | tr '\n' ' ')}
[ -f "$DATA/split.csv" ] || { echo "bench_accuracy: no split.csv in $DATA (set DATA=)" >&2; exit 1; }
cargo build --release --locked -q -p fightwatch
mkdir -p target/bench/accuracy
out=target/bench/accuracy.jsonl
: > "$out"
for m in $MODELS; do
  [ -f "models/$m/model.onnx" ] || { echo "bench_accuracy: models/$m/model.onnx missing (scripts/setup.sh makes it)" >&2; exit 1; }
  echo "bench_accuracy: $m" >&2
  line=$(RUST_LOG=warn target/release/fightwatch eval "$DATA" --split test --decide window \
    --score-every-window --model "models/$m" --out "target/bench/accuracy/$m" --json)
  gmac=$(.cache/venv/bin/python scripts/model_macs.py "models/$m/model.onnx" --json)
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["package"]=sys.argv[2]; r["gmac"]=json.loads(sys.argv[3])["gmac"]; r["date"]=sys.argv[4]; print(json.dumps(r))' \
    "$line" "$m" "$gmac" "$(date -u +%F)" | tee -a "$out"
done

# The table, between the markers in docs/models.md.
python3 - "$out" <<'EOF'
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
lines = [
    "| package | test clips | ROC AUC | decided by | accuracy | precision | recall | ms a clip | GMAC a clip |",
    "|---|---|---|---|---|---|---|---|---|",
]
for r in rows:
    auc = "n/a" if r["roc_auc"] is None else f'{r["roc_auc"]:.3f}'
    lines.append(
        f'| `{r["package"]}` | {r["clips"]} | {auc} | {r["decided_by"]} | {r["accuracy"]:.3f} | '
        f'{r["precision"]:.3f} | {r["recall"]:.3f} | {r["ms_per_clip"]:.0f} | {r["gmac"]:.2f} |'
    )
dates = sorted({r["date"] for r in rows})
table = "\n".join(lines) + f"\n\nMeasured {', '.join(dates)} by `bash scripts/bench_accuracy.sh` (raw lines: [bench/accuracy.jsonl](bench/accuracy.jsonl)).\n"
sys.path.insert(0, "scripts")
from docs_markers import replace
replace("docs/models.md", "bench_accuracy", table)
EOF
cp "$out" docs/bench/accuracy.jsonl
echo "bench_accuracy: table written to docs/models.md" >&2
