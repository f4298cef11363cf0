#!/usr/bin/env python3
"""Render the synthetic test clips in fixtures/ and write fixtures/labels.csv.

Each clip is a seeded scene from scripts/synth.py (stick-figure people, varied backgrounds, noise,
camera shake, flicker), encoded with the ffmpeg CLI: mostly H.264 MP4, plus MJPEG AVI, H.264 MKV,
VP9 WebM and one JPEG image-sequence folder. Encoders run single-threaded with bitexact flags so a
rerun gives the same bytes.

Also writes fixtures/broken/: corrupt.mp4 (not a video at all) and truncated.mp4 (the first half
of a valid clip), for error tests. They are not in labels.csv.

labels.csv columns: file, label (fight|nonfight), fight_start_s, fight_end_s (empty for
nonfight), fps, frames, width, height, container, codec, scene.

Usage: .cache/venv/bin/python scripts/make_fixtures.py [--out DIR] [--only NAME ...]
"""
from __future__ import annotations

import argparse
import csv
import pathlib
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import synth  # noqa: E402

from PIL import Image  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent

# name, seed, width, height, fps, segments, format
# Seeds here are 1000-1999; the demo model trains on seeds >= 100000 (scripts/train_demo_model.py).
CLIPS = [
    ("fight_street.mp4", 1001, 320, 240, 25, [("fight", 6)], "h264"),
    ("fight_bar_three.mp4", 1002, 480, 270, 30, [("fight", 6)], "h264"),
    ("fight_fall.mp4", 1003, 640, 360, 25, [("fight_fall", 6)], "h264"),
    ("fight_mid_walk.mp4", 1004, 640, 360, 30, [("walk", 3), ("fight", 4), ("walk", 3)], "h264"),
    ("fight_mid_talk.mkv", 1005, 320, 240, 15, [("talk", 3), ("fight", 4), ("stand", 3)], "h264-mkv"),
    ("fight_parking.avi", 1006, 320, 240, 20, [("fight", 5)], "mjpeg"),
    ("fight_frames", 1007, 320, 240, 15, [("fight", 4)], "jpeg-dir"),
    ("walk_street.mp4", 1101, 320, 240, 25, [("walk", 6)], "h264"),
    ("run_park.mp4", 1102, 480, 270, 30, [("run", 6)], "h264"),
    ("stand_wait.mp4", 1103, 640, 360, 25, [("stand", 6)], "h264"),
    ("wave_hello.mp4", 1104, 320, 240, 20, [("wave", 6)], "h264"),
    ("talk_two.webm", 1105, 320, 240, 15, [("talk", 6)], "vp9"),
    ("crossing_crowd.mp4", 1106, 640, 360, 30, [("cross", 8)], "h264"),
    ("walk_then_run.mp4", 1107, 480, 360, 25, [("walk", 4), ("run", 3), ("stand", 3)], "h264"),
]

# Quiet scenes for the capacity benchmark (scripts/bench_capacity.sh): a fixed camera (no shake)
# on an empty scene, with sensor noise and lighting flicker. Not in labels.csv (nothing to label).
# name, seed, width, height, fps, seconds
QUIET = [
    ("quiet/empty_lobby.mp4", 1201, 640, 360, 15, 12),
    ("quiet/empty_lot.mp4", 1202, 480, 270, 10, 12),
]

BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1", "-threads", "1"]
ENCODERS = {
    "h264": ["-c:v", "libx264", "-preset", "medium", "-crf", "26", "-pix_fmt", "yuv420p",
             "-x264-params", "threads=1:sliced-threads=0", "-movflags", "+faststart"],
    "h264-mkv": ["-c:v", "libx264", "-preset", "medium", "-crf", "26", "-pix_fmt", "yuv420p",
                 "-x264-params", "threads=1:sliced-threads=0"],
    "mjpeg": ["-c:v", "mjpeg", "-q:v", "6", "-pix_fmt", "yuvj420p"],
    "vp9": ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "40", "-deadline", "good", "-cpu-used", "4",
            "-row-mt", "0", "-pix_fmt", "yuv420p"],
}
CODEC_NAMES = {"h264": "h264", "h264-mkv": "h264", "mjpeg": "mjpeg", "vp9": "vp9", "jpeg-dir": "jpeg"}


def encode(scene: synth.Scene, path: pathlib.Path, fmt: str) -> None:
    if fmt == "jpeg-dir":
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        for i, frame in enumerate(scene.frames()):
            Image.fromarray(frame).save(path / f"frame_{i:05d}.jpg", quality=85, optimize=False)
        (path / "fps.txt").write_text(f"{scene.fps:g}\n")
        return
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{scene.width}x{scene.height}",
           "-r", str(scene.fps), "-i", "-", *ENCODERS[fmt], *BITEXACT, str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for frame in scene.frames():
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit(f"ffmpeg failed for {path}")


def fight_segment(segments: list[tuple[str, float]]) -> tuple[str, str]:
    t = 0.0
    start = end = None
    for kind, dur in segments:
        if kind in synth.FIGHT_KINDS:
            start = t if start is None else start
            end = t + dur
        t += dur
    return ("", "") if start is None else (f"{start:g}", f"{end:g}")


def make_broken(out: pathlib.Path) -> None:
    broken = out / "broken"
    broken.mkdir(parents=True, exist_ok=True)
    # Not a video at all: a few bytes that look like the start of an MP4 then noise.
    import numpy as np
    noise = np.random.default_rng(7).integers(0, 256, 20000, dtype=np.uint8).tobytes()
    (broken / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + noise)
    # A valid clip cut in half mid-stream (moov is at the front thanks to +faststart).
    whole = (out / "walk_street.mp4").read_bytes()
    (broken / "truncated.mp4").write_bytes(whole[: len(whole) // 2])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "fixtures")
    ap.add_argument("--only", nargs="*", help="render only these clip names")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg not found: run scripts/setup.sh")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, seed, w, h, fps, segments, fmt in CLIPS:
        scene = synth.Scene(seed, w, h, fps, segments)
        if not args.only or name in args.only:
            encode(scene, args.out / name, fmt)
            print(f"  {name:24s} {w}x{h} @ {fps} fps, {scene.frame_count} frames, {segments}", flush=True)
        start, end = fight_segment(segments)
        container = "jpeg-dir" if fmt == "jpeg-dir" else name.rsplit(".", 1)[1]
        rows.append({
            "file": name, "label": "fight" if start else "nonfight", "fight_start_s": start,
            "fight_end_s": end, "fps": fps, "frames": scene.frame_count, "width": w, "height": h,
            "container": container, "codec": CODEC_NAMES[fmt],
            "scene": "+".join(f"{k}:{d:g}" for k, d in segments),
        })
    (args.out / "quiet").mkdir(exist_ok=True)
    for name, seed, w, h, fps, seconds in QUIET:
        if not args.only or name in args.only:
            scene = synth.Scene(seed, w, h, fps, [("stand", seconds)], people=0, shake=0.0)
            encode(scene, args.out / name, "h264")
            print(f"  {name:24s} {w}x{h} @ {fps} fps, {scene.frame_count} frames, empty", flush=True)
    with open(args.out / "labels.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        wr.writeheader()
        wr.writerows(rows)
    make_broken(args.out)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {len(rows)} clips + labels.csv + broken/ to {args.out} ({total / 1e6:.1f} MB in total)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
