#!/usr/bin/env bash
# GPU check: runs fightwatch's CUDA path on a real GPU and prints one JSON summary.
#
#   ORT_DYLIB_PATH=/path/to/onnxruntime-gpu/libonnxruntime.so.1.31.1 \
#   FW_BIN=target/release/fightwatch STREAM_1080P=/path/to/1080p.mp4 scripts/gpu_check.sh
#
# Needs: nvidia-smi, a fightwatch built with `--features cuda`, the onnxruntime-gpu library
# (PyPI onnxruntime-gpu 1.31.1 is a CUDA 13 build; its providers sit beside libonnxruntime.so),
# CUDA 13's cuBLAS, cudart, cuRAND and cuDNN 9 on the loader path, and python3. Where those CUDA
# libraries come as pip packages (nvidia-cublas, nvidia-cudnn-cu13, ...), their lib/ folders are
# found through `import nvidia` and put on LD_LIBRARY_PATH here.
#
# Settings (environment): GPU_CHECK_STEPS (a subset, e.g. "gpu_info failure_modes"), FW_BIN,
# ORT_DYLIB_PATH, STREAM_1080P (a 1080p H.264 file for the
# decode-side limit; that part is skipped without it), BENCH_SECONDS (default 5), GPU_CHECK_DIR
# (logs; default a temp dir), GPU_CHECK_JSON (also write the summary there).
# docs/development.md ("GPU check") has the recipe for a machine that has none of this installed.
set -euo pipefail

cd "$(dirname "$0")/.."
: "${ORT_DYLIB_PATH:?set ORT_DYLIB_PATH to the onnxruntime-gpu libonnxruntime.so}"
export ORT_DYLIB_PATH

# CUDA libraries shipped as pip packages (the PyTorch way): every nvidia/*/lib folder.
cuda_libs=$(python3 - <<'PY' 2>/dev/null || true
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except ImportError:
    roots = []
print(":".join(d for r in roots for d in sorted(glob.glob(os.path.join(r, "*", "lib"))) if os.path.isdir(d)))
PY
)
if [ -n "$cuda_libs" ]; then
    LD_LIBRARY_PATH="$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# ONNX Runtime opens its providers from its own folder; its folder on the path helps ldd-style
# checks and tools that load the providers directly.
LD_LIBRARY_PATH="$(dirname "$ORT_DYLIB_PATH")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH

exec python3 scripts/gpu_check.py "$@"
