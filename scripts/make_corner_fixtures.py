#!/usr/bin/env python3
"""Real fights in one corner of a busy picture -> fixtures/corner/ (for "where in the picture").

Each clip is a real CCTV fight from ../shared/data/surveillance-fight (MIT; its `train` split,
which the CPU default's classifier was fitted on, so the fight is recognised and the test is
about *where*, not *whether*) scaled to 60 % and laid over one corner of a real calm scene
(people walking, also from the train split), 640x480, the pair played twice (~4 s). The fight
then covers `region` below in 0-1 picture coordinates and the calm scene the rest.

fixtures/corner/labels.csv: file, fight source, background source, corner, x0, y0, x1, y1.

Encoded with the ffmpeg CLI single-threaded with bitexact flags (as scripts/make_fixtures.py),
so a rerun gives the same bytes.

Usage: python3 scripts/make_corner_fixtures.py [--data DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import csv
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures/corner"  # the default --out
WIDTH, HEIGHT, SCALE = 640, 480, 0.6
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1", "-threads", "1"]
H264 = ["-c:v", "libx264", "-preset", "medium", "-crf", "26", "-pix_fmt", "yuv420p",
        "-x264-params", "threads=1:sliced-threads=0", "-movflags", "+faststart"]
# (file, fight clip, calm clip, corner): the two fights the CPU default scores highest in a
# corner of this scene, in opposite corners.
CLIPS = [
    ("fight_bottom_right.mp4", "fight/fi003.mp4", "noFight/nofi002.mp4", "bottom_right"),
    ("fight_top_left.mp4", "fight/fi001.mp4", "noFight/nofi002.mp4", "top_left"),
]


def region(corner: str) -> tuple[float, float, float, float]:
    if corner == "top_left":
        return (0.0, 0.0, SCALE, SCALE)
    return (1.0 - SCALE, 1.0 - SCALE, 1.0, 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=pathlib.Path, default=ROOT.parent / "shared/data/surveillance-fight")
    ap.add_argument("--out", type=pathlib.Path, default=OUT)
    args = ap.parse_args()
    out = args.out
    split = {row["file"]: row["split"] for row in csv.DictReader((args.data / "split.csv").open())}
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, fight, calm, corner in CLIPS:
        if split.get(fight) != "train" or split.get(calm) != "train":
            print(f"make_corner_fixtures: {fight} and {calm} must be train clips", file=sys.stderr)
            return 1
        fw, fh = int(WIDTH * SCALE), int(HEIGHT * SCALE)
        at = "0:0" if corner == "top_left" else "W-w:H-h"
        graph = (f"[0:v]scale={WIDTH}:{HEIGHT},setsar=1[bg];[1:v]scale={fw}:{fh},setsar=1[f];"
                 f"[bg][f]overlay={at}:shortest=1,fps=25")
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-stream_loop", "1", "-i", str(args.data / calm),
             "-stream_loop", "1", "-i", str(args.data / fight), "-filter_complex", graph, "-an",
             *BITEXACT, *H264, str(out / name)],
            check=True)
        rows.append([name, fight, calm, corner, *region(corner)])
        print(f"make_corner_fixtures: {name}", file=sys.stderr)
    with (out / "labels.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "fight", "background", "corner", "x0", "y0", "x1", "y1"])
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
