#!/usr/bin/env bash
# Sets up, builds a release fightwatch, and runs the main job.
#
# The full demo (bundled clips replayed as cameras through capture -> inference -> alerts ->
# WebSocket, console on http://127.0.0.1:8080) arrives with the pipeline issues. Until then this
# runs the most complete real path that exists: ONNX Runtime loading a clip model and reporting
# its inputs and outputs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
cargo build --release --locked -p fightwatch
echo
echo "demo: the replay pipeline and console are not built yet; running the real path that exists:"
echo "demo: target/release/fightwatch model inspect fixtures/onnx/tiny_clip_classifier.onnx"
exec target/release/fightwatch model inspect fixtures/onnx/tiny_clip_classifier.onnx "$@"
