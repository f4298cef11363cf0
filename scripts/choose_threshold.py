#!/usr/bin/env python3
"""A model's start threshold from labelled clip scores: the highest threshold with the best
balanced accuracy, placed halfway to the next lower score (so it does not sit on a clip's score;
when the clips are separated it is the middle of the gap).

    fightwatch eval DATA --split train --decide window --score-every-window --model M --out OUT
    python3 scripts/choose_threshold.py OUT/scores.csv

Reads `label` (fight / anything else) and `max_score` (a clip's highest window) from the CSV
`fightwatch eval` writes, prints the threshold and the figures at it as JSON, with an end
threshold at the built-in ratio (0.4 / 0.6 of the start) for the package's `[incident]`. Use the train
split (or footage of your own): a threshold chosen on the clips it is then judged on says
nothing. scripts/make_mc3_6x80.py uses the same rule on out-of-fold scores.
"""
from __future__ import annotations

import csv
import json
import sys


def choose_threshold(scores: list[float], fights: list[bool]) -> tuple[float, float]:
    """(threshold rounded to 3 decimals, balanced accuracy at it)."""
    pos = sum(fights)
    neg = len(fights) - pos
    if pos == 0 or neg == 0:
        raise ValueError("need both fight and calm clips")
    best, choice = -1.0, 0.5
    candidates = sorted(set(scores), reverse=True)
    for k, t in enumerate(candidates):
        tp = sum(1 for s, f in zip(scores, fights) if f and s >= t)
        tn = sum(1 for s, f in zip(scores, fights) if not f and s < t)
        balanced = 0.5 * (tp / pos + tn / neg)
        if balanced > best + 1e-12:
            lower = candidates[k + 1] if k + 1 < len(candidates) else 0.0
            best, choice = balanced, (t + lower) / 2
    return round(choice, 3), best


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rows = list(csv.DictReader(open(sys.argv[1])))
    scores = [float(r["max_score"]) for r in rows if r.get("max_score")]
    fights = [r["label"] == "fight" for r in rows if r.get("max_score")]
    threshold, balanced = choose_threshold(scores, fights)
    pred = [s >= threshold for s in scores]
    tp = sum(p and f for p, f in zip(pred, fights))
    fp = sum(p and not f for p, f in zip(pred, fights))
    print(json.dumps({
        "clips": len(scores), "start_threshold": threshold,
        "end_threshold": round(threshold * 2 / 3, 3), "balanced_accuracy": round(balanced, 4),
        "accuracy": round(sum(p == f for p, f in zip(pred, fights)) / len(scores), 4),
        "precision": round(tp / max(tp + fp, 1), 4), "recall": round(tp / max(sum(fights), 1), 4),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
