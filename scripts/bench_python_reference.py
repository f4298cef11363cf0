#!/usr/bin/env python3
"""A plain Python fight-detection loop, the baseline fightwatch's replay is measured against.

For each clip: decode with the ffmpeg CLI (scaled by libswscale to the model's pre-crop size, RGB),
centre-crop, sample windows by media time (hop 0.5 s), normalise with numpy and run each window
through onnxruntime, one window per run: what a straightforward script would do.

Prints one JSON object: windows, seconds, windows_per_s.

Usage: .cache/venv/bin/python scripts/bench_python_reference.py --model models/fight-demo CLIP...
"""
import argparse
import json
import pathlib
import subprocess
import sys
import time
import tomllib

import numpy as np
import onnxruntime as ort


def fps_of(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=r_frame_rate",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    num, den = out.split("/")
    return float(num) / float(den)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=pathlib.Path, required=True)
    ap.add_argument("--hop", type=float, default=0.5)
    ap.add_argument("clips", nargs="+", type=pathlib.Path)
    args = ap.parse_args()
    cfg = tomllib.loads((args.model / "model.toml").read_text())
    inp = cfg["input"]
    rw, rh = inp.get("resize_width", inp["width"]), inp.get("resize_height", inp["height"])
    w, h, frames_n, sfps = inp["width"], inp["height"], inp["frames"], inp["sample_fps"]
    mean, std = np.array(inp["mean"], np.float32), np.array(inp["std"], np.float32)
    scale = np.float32(inp.get("pixel_scale", 1 / 255))
    session = ort.InferenceSession(str(args.model / "model.onnx"), providers=["CPUExecutionProvider"])
    t0 = time.perf_counter()
    windows = 0
    for clip in args.clips:
        fps = fps_of(clip)
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-vf", f"scale={rw}:{rh}:flags=bilinear",
                              "-pix_fmt", "rgb24", "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
        video = np.frombuffer(raw, np.uint8).reshape(-1, rh, rw, 3)
        x0, y0 = (rw - w) // 2, (rh - h) // 2
        video = video[:, y0:y0 + h, x0:x0 + w]
        pts = np.arange(len(video)) / fps
        start = 0.0
        while start + (frames_n - 1) / sfps <= pts[-1] + 1e-6:
            idx = [int(np.searchsorted(pts, start + k / sfps + 1e-6, side="right")) - 1 for k in range(frames_n)]
            x = ((video[idx].astype(np.float32) * scale - mean) / std).transpose(3, 0, 1, 2)[None]
            session.run(None, {inp["name"]: np.ascontiguousarray(x)})
            windows += 1
            start += args.hop
    seconds = time.perf_counter() - t0
    print(json.dumps({"windows": windows, "seconds": seconds, "windows_per_s": windows / seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
