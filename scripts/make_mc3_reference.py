#!/usr/bin/env python3
"""Compute torch reference logits for the converted mc3_18 fight model (parity test data).

Run once, with torch, in a throwaway venv (not part of set-up or CI):
    .cache/torch-venv/bin/python scripts/make_mc3_reference.py

It builds torchvision's own mc3_18 with fc = Linear(512, 2), loads the original checkpoint from
the wheel scripts/fetch_model.py verified, and runs two clips:
  * "random": 1x3x16x112x112 values from SplitMix64 (seed below), mapped to [-2.5, 2.5). The test
    regenerates them with the same generator, so they need not be stored;
  * "fixture": 16 frames of fixtures/fight_street.mp4 sampled at 15 fps from t = 1 s, squashed to
    171x128 with Pillow's bilinear filter and centre-cropped to 112x112 (the upstream
    preprocessing). The uint8 frames are stored (compressed); the test normalises them with the
    model's mean/std in float32, exactly as done here.

Writes fixtures/parity/mc3_18/{fixture_clip.npz, expected.json}. The Rust test
crates/inference/tests/mc3_parity.rs compares ONNX Runtime's logits on models/fight-mc3-18/model.onnx
against these within 1e-3.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import zipfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import fetch_model  # noqa: E402

MEAN = np.array([0.43216, 0.394666, 0.37645], np.float32)
STD = np.array([0.22803, 0.22145, 0.216989], np.float32)
SEED = 0x5EED_F16


def splitmix64_uniform(seed: int, n: int) -> np.ndarray:
    """n float32 values in [-2.5, 2.5): (next() >> 40) / 2^24 * 5 - 2.5, SplitMix64 state from seed."""
    mask = (1 << 64) - 1
    state = seed & mask
    out = np.empty(n, np.float32)
    for i in range(n):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        out[i] = np.float32((z >> 40) / float(1 << 24)) * np.float32(5.0) - np.float32(2.5)
    return out


def fixture_frames(path: pathlib.Path, fps: float, start_s: float, frames: int) -> np.ndarray:
    from PIL import Image
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                           check=True).stdout.strip().split(",")
    w, h = int(probe[0]), int(probe[1])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    video = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    idx = [int(np.floor((start_s + i / 15.0) * fps + 1e-6)) for i in range(frames)]
    out = []
    for i in idx:
        img = Image.fromarray(video[i]).resize((171, 128), Image.BILINEAR)
        x0, y0 = (171 - 112) // 2, (128 - 112) // 2
        out.append(np.asarray(img)[y0:y0 + 112, x0:x0 + 112])
    return np.stack(out)  # T H W C uint8


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "fixtures" / "parity" / "mc3_18")
    args = ap.parse_args()
    import torch
    import torchvision

    wheel = fetch_model.download_wheel(ROOT / ".cache" / "models", fetch_model.WHEEL_SHA256, None)
    with zipfile.ZipFile(wheel) as z:
        z.extract(fetch_model.CHECKPOINT, ROOT / ".cache" / "models")
    model = torchvision.models.video.mc3_18(weights=None)
    model.fc = torch.nn.Linear(512, 2)
    state = torch.load(ROOT / ".cache" / "models" / fetch_model.CHECKPOINT, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()

    rand = splitmix64_uniform(SEED, 3 * 16 * 112 * 112).reshape(1, 3, 16, 112, 112)
    frames = fixture_frames(ROOT / "fixtures" / "fight_street.mp4", 25.0, 1.0, 16)
    clip = ((frames.astype(np.float32) / np.float32(255.0) - MEAN) / STD).transpose(3, 0, 1, 2)[None]
    with torch.no_grad():
        logits_rand = model(torch.from_numpy(rand)).numpy()
        logits_fix = model(torch.from_numpy(np.ascontiguousarray(clip))).numpy()

    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "fixture_clip.npz", frames=frames)
    expected = {
        "generator": "scripts/make_mc3_reference.py",
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "random": {"seed": SEED, "shape": [1, 3, 16, 112, 112], "range": [-2.5, 2.5],
                   "logits": logits_rand[0].tolist()},
        "fixture": {"source": "fixtures/fight_street.mp4", "start_s": 1.0, "sample_fps": 15.0,
                    "frames_file": "fixture_clip.npz", "layout": "THWC uint8",
                    "mean": MEAN.tolist(), "std": STD.tolist(), "logits": logits_fix[0].tolist()},
    }
    (args.out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    print(json.dumps({"random": logits_rand[0].tolist(), "fixture": logits_fix[0].tolist()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
