#!/usr/bin/env python3
"""Train the toy fight-demo model (models/fight-demo/) on synthetic clips and export it to ONNX.

The model is a small 3D CNN (~150k parameters). Its first step, inside the graph, is frame
differencing: rendered stick figures are only told apart by how they move, and a network fed raw
RGB did not learn that in a few epochs. Training clips come from scripts/synth.py with seeds
>= 100000, disjoint from the fixtures' (1000-1999); the held-out set uses seeds >= 500000.

Clips are built by time, as fightwatch builds them: 16 frames sampled at 8 fps (a 2 s window)
from scenes rendered at 15-30 fps, squashed to 96x96 with Pillow's bilinear filter (the same
filter fightwatch's resizer implements), scaled to [0, 1], normalised by mean 0.5, std 0.25.

Needs torch (not part of set-up or CI):
    python3 -m venv .cache/torch-venv
    .cache/torch-venv/bin/pip install torch==2.15.0 torchvision==0.29.2 numpy pillow onnx==1.20.0
    .cache/torch-venv/bin/python scripts/train_demo_model.py

Writes models/fight-demo/model.onnx (opset 17, dynamic batch) and prints held-out accuracy.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import synth  # noqa: E402

from PIL import Image  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
FRAMES, SAMPLE_FPS, SIZE = 16, 8.0, 96
MEAN, STD = 0.5, 0.25
CALM = ["walk", "run", "stand", "wave", "talk", "cross"]
SIZES = [(320, 240), (480, 270), (640, 360), (480, 360)]
FPS = [15, 20, 25, 30]


def clip_indices(fps: float, start_s: float) -> list[int]:
    """Frame indices of a clip sampled by media time: the frame shown at each sample instant."""
    return [int(np.floor((start_s + i / SAMPLE_FPS) * fps + 1e-6)) for i in range(FRAMES)]


def render_clip(seed: int) -> tuple[np.ndarray, int]:
    """One training clip (T, H, W, 3) uint8 at model resolution and its label (1 = fight)."""
    r = np.random.default_rng(seed)
    fight = seed % 2 == 1
    if fight:
        kind = "fight_fall" if r.random() < 0.25 else "fight"
    else:
        kind = CALM[int(r.integers(len(CALM)))]
    w, h = SIZES[int(r.integers(len(SIZES)))]
    fps = FPS[int(r.integers(len(FPS)))]
    start = float(r.uniform(0, 1.0))
    duration = start + FRAMES / SAMPLE_FPS + 0.2
    scene = synth.Scene(seed, w, h, fps, [(kind, duration)], noise=float(r.uniform(1, 6)),
                        shake=float(r.uniform(0, 2.5)))
    want = clip_indices(fps, start)
    frames, out = {}, []
    for i in range(max(want) + 1):
        f = scene.render()
        if i in want:
            frames[i] = np.asarray(Image.fromarray(f).resize((SIZE, SIZE), Image.BILINEAR))
    out = np.stack([frames[i] for i in want])
    return out, int(fight)


def dataset(seeds: range, workers: int) -> tuple[np.ndarray, np.ndarray]:
    with multiprocessing.Pool(workers) as pool:
        items = pool.map(render_clip, seeds, chunksize=8)
    x = np.stack([c for c, _ in items])  # N T H W C uint8
    y = np.array([l for _, l in items], np.int64)
    return x, y


def to_tensor(x_uint8: np.ndarray):
    import torch
    x = torch.from_numpy(x_uint8).float().div_(255.0)
    x = (x - MEAN) / STD
    return x.permute(0, 4, 1, 2, 3).contiguous()  # N C T H W


def build_model():
    import torch
    from torch import nn

    def block(cin, cout, stride):
        return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False),
                             nn.BatchNorm3d(cout), nn.ReLU(inplace=True))

    class FightDemoNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                block(6, 12, (1, 2, 2)), block(12, 24, (1, 2, 2)), block(24, 48, 2), block(48, 64, 2))
            self.dropout = nn.Dropout(0.3)
            self.fc = nn.Linear(64, 2)

        def forward(self, clip):
            motion = clip[:, :, 1:] - clip[:, :, :-1]
            z = torch.cat([clip[:, :, 1:], motion], dim=1)
            z = self.features(z).mean(dim=(2, 3, 4))
            return self.fc(self.dropout(z))

    return FightDemoNet()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=800, help="training clips")
    ap.add_argument("--heldout", type=int, default=200, help="held-out clips")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "models" / "fight-demo")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    import torch
    from torch import nn
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)

    t0 = time.time()
    xtr, ytr = dataset(range(100000, 100000 + args.train), args.workers)
    xte, yte = dataset(range(500000, 500000 + args.heldout), args.workers)
    print(f"rendered {len(xtr)} training + {len(xte)} held-out clips in {time.time() - t0:.0f}s", flush=True)
    xtr_t, xte_t = to_tensor(xtr), to_tensor(xte)
    ytr_t, yte_t = torch.from_numpy(ytr), torch.from_numpy(yte)

    model = build_model()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.epochs * ((len(xtr) + 15) // 16))
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)

    def evaluate():
        model.eval()
        with torch.no_grad():
            logits = torch.cat([model(xte_t[i:i + 32]) for i in range(0, len(xte_t), 32)])
        return (logits.argmax(1) == yte_t).float().mean().item()

    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr_t), generator=gen)
        total = 0.0
        for i in range(0, len(perm), 16):
            idx = perm[i:i + 16]
            xb = xtr_t[idx]
            if torch.rand(1, generator=gen).item() < 0.5:  # mirror: fights happen both ways round
                xb = xb.flip(-1)
            loss = loss_fn(model(xb), ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(xtr_t):.4f}, held-out accuracy "
              f"{evaluate():.3f} ({time.time() - t0:.0f}s)", flush=True)

    acc = evaluate()
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, FRAMES, SIZE, SIZE)
    torch.onnx.export(model, (dummy,), str(args.out / "model.onnx"), dynamo=False, opset_version=17,
                      input_names=["clip"], output_names=["logits"],
                      dynamic_axes={"clip": {0: "batch"}, "logits": {0: "batch"}})
    stats = {"params": params, "train_clips": len(xtr), "heldout_clips": len(xte), "epochs": args.epochs,
             "heldout_accuracy": round(acc, 4), "train_seconds": round(time.time() - t0),
             "torch": torch.__version__}
    (args.out / "training.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
