#!/usr/bin/env python3
"""Independent reference for fightwatch's preprocessing: decode, sample by time, resize,
normalise, run the model, with the ffmpeg CLI + numpy + onnxruntime (no fightwatch code).

For each case it decodes the clip with the ffmpeg CLI, scaling with libswscale's bilinear filter
straight to the model's pre-crop size in RGB (what fightwatch's capture does in-process),
centre-crops, samples `frames` frames by media time (the newest frame at or before each
instant), normalises with model.toml's scale/mean/std in float32, and runs the ONNX model with
onnxruntime.

Writes fixtures/parity/preprocess/{CASE}.npz (the uint8 frames of each window, compressed) and
fixtures/parity/preprocess/expected.json (window starts, tensor statistics, logits). The Rust
test crates/inference/tests/preprocess_parity.rs runs fightwatch's own path on the same clip and
requires the frames to match and the tensor and logits to agree within 1e-4.

Usage: .cache/venv/bin/python scripts/reference_preprocess.py [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tomllib

import numpy as np
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parent.parent
CASES = [
    # name, clip, model package, window starts (s)
    ("demo_fight_street", "fixtures/fight_street.mp4", "models/fight-demo", [0.0, 2.0]),
    ("mc3_fight_mid_walk", "fixtures/fight_mid_walk.mp4", "models/fight-mc3-18", [3.0]),
]


def probe(path: pathlib.Path) -> tuple[int, int, float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height,r_frame_rate", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout.strip().split(",")
    num, den = out[2].split("/")
    return int(out[0]), int(out[1]), float(num) / float(den)


def decode_scaled(path: pathlib.Path, w: int, h: int) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"scale={w}:{h}:flags=bilinear",
                          "-pix_fmt", "rgb24", "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "fixtures" / "parity" / "preprocess")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    expected = {"generator": "scripts/reference_preprocess.py", "onnxruntime": ort.__version__, "cases": {}}
    for name, clip, package, starts in CASES:
        cfg = tomllib.loads((ROOT / package / "model.toml").read_text())
        inp, outp = cfg["input"], cfg["output"]
        assert inp["resize"] == "squash" and inp["layout"] == "NCTHW"
        rw, rh = inp.get("resize_width", inp["width"]), inp.get("resize_height", inp["height"])
        w, h = inp["width"], inp["height"]
        _, _, fps = probe(ROOT / clip)
        video = decode_scaled(ROOT / clip, rw, rh)
        x0, y0 = (rw - w) // 2, (rh - h) // 2
        video = video[:, y0:y0 + h, x0:x0 + w]
        pts = np.arange(len(video)) / fps
        windows = []
        for start in starts:
            idx = [int(np.searchsorted(pts, start + k / inp["sample_fps"] + 1e-6, side="right")) - 1
                   for k in range(inp["frames"])]
            windows.append(video[idx])
        frames = np.stack(windows)  # N T H W C uint8
        scale = np.float32(inp.get("pixel_scale", 1 / 255))
        mean = np.array(inp["mean"], np.float32)
        std = np.array(inp["std"], np.float32)
        tensor = ((frames.astype(np.float32) * scale - mean) / std).transpose(0, 4, 1, 2, 3)  # N C T H W
        session = ort.InferenceSession(str(ROOT / package / "model.onnx"), providers=["CPUExecutionProvider"])
        (logits,) = session.run([outp["name"]], {inp["name"]: np.ascontiguousarray(tensor)})
        np.savez_compressed(args.out / f"{name}.npz", frames=frames)
        expected["cases"][name] = {
            "clip": clip, "package": package, "window_starts": starts,
            "tensor_shape": list(tensor.shape), "tensor_sum": float(tensor.astype(np.float64).sum()),
            "tensor_abs_sum": float(np.abs(tensor.astype(np.float64)).sum()),
            "logits": logits.tolist(),
        }
        print(f"{name}: {len(starts)} windows, logits {logits.tolist()}")
    (args.out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
