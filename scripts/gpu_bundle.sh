#!/usr/bin/env bash
# Carries fightwatch's CUDA build to a bare GPU machine and runs scripts/gpu_check.sh there.
#
#   scripts/gpu_bundle.sh pack        # here: build, collect, compress, split: .gpu/pNN/part.NN
#   scripts/gpu_bundle.sh stash DIR   # there, once per part: copy the carried part(s) to DIR
#   scripts/gpu_bundle.sh run DIR     # there: reassemble DIR/part.*, unpack, run the check
#
# The bundle holds what the GPU machine lacks and the repository does not track: the release
# binary built with `--features cuda` (stripped), ONNX Runtime's GPU build (PyPI onnxruntime-gpu;
# the CUDA provider alone is 284 MB), the shared libraries the binary links (Debian's FFmpeg and
# its dependencies; only those the machine lacks are put on the loader path there), mc3_18's
# model.onnx and a 1080p H.264 stream for the decode-side measurement. CUDA's own libraries are
# not carried: the check uses the machine's (docs/development.md, "GPU check").
#
# Parts are at most PART_MB (default 57) MiB so that each fits one transfer beside the tracked
# tree. xz, because a bare machine has python3's lzma even where it lacks zstd.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_GPU_VERSION=${ORT_GPU_VERSION:-1.31.1}
PART_MB=${PART_MB:-57}
# Model weights made by scripts/setup.sh (not in git): carried in the bundle.
BUILT_MODELS="fight-mc3-18 fight-mc3-18-6x80-int8"

pack() {
    local stage=.cache/gpu/stage
    rm -rf "$stage" .gpu && mkdir -p "$stage"/{bin,ort,libs,media,models} .gpu

    echo "== build (release, --features cuda,tensorrt) =="
    cargo build --release -p fightwatch --features cuda,tensorrt --target-dir target/gpu
    cp target/gpu/release/fightwatch "$stage/bin/" && strip "$stage/bin/fightwatch"

    echo "== onnxruntime-gpu $ORT_GPU_VERSION from PyPI =="
    local wheels=.cache/gpu/wheels
    mkdir -p "$wheels"
    ls "$wheels"/onnxruntime_gpu-"$ORT_GPU_VERSION"-*.whl >/dev/null 2>&1 ||
        .cache/venv/bin/python -m pip download --no-deps --only-binary=:all: --python-version 3.11 \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
            "onnxruntime-gpu==$ORT_GPU_VERSION" -d "$wheels"
    unzip -o -j -q "$wheels"/onnxruntime_gpu-"$ORT_GPU_VERSION"-*.whl \
        "onnxruntime/capi/libonnxruntime.so.$ORT_GPU_VERSION" \
        'onnxruntime/capi/libonnxruntime_providers_shared.so' \
        'onnxruntime/capi/libonnxruntime_providers_cuda.so' -d "$stage/ort"
    # TensorRT's provider, where the wheel has it (it needs the device's own TensorRT).
    unzip -o -j -q "$wheels"/onnxruntime_gpu-"$ORT_GPU_VERSION"-*.whl \
        'onnxruntime/capi/libonnxruntime_providers_tensorrt.so' -d "$stage/ort" ||
        echo "(no TensorRT provider in onnxruntime-gpu $ORT_GPU_VERSION)"

    echo "== the binary's shared libraries =="
    # glibc and the C++ runtime stay the machine's own (newer there; ONNX Runtime needs them).
    ldd "$stage/bin/fightwatch" | awk '/=> \//{print $3}' |
        grep -vE '/(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so' |
        while read -r lib; do cp -L "$lib" "$stage/libs/"; done

    echo "== model and media =="
    for model in $BUILT_MODELS; do
        mkdir -p "$stage/models/$model" && cp "models/$model/model.onnx" "$stage/models/$model/"
    done
    # A 1080p25 H.264 stream at 4 Mbit/s, an IP camera's usual main stream: moving detail and
    # sensor noise, so the decoder does real work.
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=25:duration=12" \
        -vf "noise=alls=12:allf=t" -c:v libx264 -profile:v high -preset veryfast \
        -b:v 4M -maxrate 4M -bufsize 8M -g 50 -pix_fmt yuv420p "$stage/media/stream-1080p.mp4"

    echo "== compress and split =="
    du -sh "$stage"/*
    tar -C "$stage" -cf - . | xz -9 -T2 | split -b "${PART_MB}M" -d -a 2 - .gpu/part.
    # One folder per part: each device call carries one (`carry: [".gpu/p00"]`, then p01, ...).
    for part in .gpu/part.*; do
        mkdir -p ".gpu/p${part##*.}" && mv "$part" ".gpu/p${part##*.}/"
    done
    ls -la .gpu/*
}

stash() {
    local dir=${1:?stash DIR}
    mkdir -p "$dir" && cp .gpu/p*/part.* "$dir/" && ls -la "$dir"
}

run() {
    local dir=${1:?run DIR}
    local root=$dir/root
    # The last part may have come in this very call.
    mkdir -p "$dir" && { cp .gpu/p*/part.* "$dir/" 2>/dev/null || true; }
    rm -rf "$root" && mkdir -p "$root"
    cat "$dir"/part.* | python3 -c '
import sys, tarfile
tarfile.open(fileobj=sys.stdin.buffer, mode="r|xz").extractall(sys.argv[1], filter="tar")' "$root"
    # Put on the loader path only the carried libraries this machine lacks.
    local ld=$dir/ldlibs
    rm -rf "$ld" && mkdir -p "$ld"
    for lib in "$root"/libs/*; do
        ldconfig -p | awk -v name="$(basename "$lib")" '$1 == name {found = 1} END {exit !found}' ||
            ln -s "$lib" "$ld/"
    done
    echo "carried libraries used: $(ls "$ld" | wc -l) of $(ls "$root/libs" | wc -l)" >&2
    for model in $BUILT_MODELS; do
        cp "$root/models/$model/model.onnx" "models/$model/"
    done
    export LD_LIBRARY_PATH="$ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    FW_BIN=$root/bin/fightwatch \
        ORT_DYLIB_PATH=$root/ort/libonnxruntime.so.$ORT_GPU_VERSION \
        STREAM_1080P=$root/media/stream-1080p.mp4 \
        GPU_CHECK_DIR=${GPU_CHECK_DIR:-$dir/logs} \
        scripts/gpu_check.sh
}

case ${1:-} in
    pack) pack ;;
    stash) stash "${2:-}" ;;
    run) run "${2:-}" ;;
    *) echo "usage: $0 pack | stash DIR | run DIR" >&2; exit 2 ;;
esac
