"""Deterministic synthetic surveillance scenes: stick-figure people on varied backgrounds.

Shared by scripts/make_fixtures.py (the test clips) and scripts/train_demo_model.py (the demo
model's training data, drawn from seeds disjoint from the fixtures'). Everything is a function of
the seed, so a scene renders to the same pixels on every machine.

A scene is a timeline of segments, e.g. [("walk", 3), ("fight", 4), ("walk", 3)]. The same people
persist across segments: in a fight they close in, trade fast erratic punches and kicks, shove
and sometimes fall; before and after it they walk, run, stand, wave or talk.

Only numpy and Pillow are needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

FIGHT_KINDS = {"fight", "fight_fall"}
CALM_KINDS = {"walk", "run", "stand", "wave", "talk", "cross"}


@dataclass
class Person:
    x: float  # feet position, pixels
    y: float
    height: float  # pixels, feet to top of head
    color: tuple
    direction: float  # +1 walks right, -1 left
    speed: float  # body heights per second while walking
    phase: float
    # Joint angles in degrees from straight down; updated each frame.
    arms: list = field(default_factory=lambda: [10.0, -10.0])  # shoulder (left, right)
    elbows: list = field(default_factory=lambda: [10.0, 10.0])
    legs: list = field(default_factory=lambda: [8.0, -8.0])  # hip
    knees: list = field(default_factory=lambda: [0.0, 0.0])
    tilt: float = 0.0  # whole-body tilt, 90 = lying down
    # Fight state: target joint angles that the limbs snap towards.
    targets: dict = field(default_factory=dict)
    next_move: float = 0.0
    fallen_at: float | None = None


def _lerp(a: float, b: float, k: float) -> float:
    return a + (b - a) * k


class Scene:
    """Renders one clip frame by frame."""

    def __init__(self, seed: int, width: int, height: int, fps: float, segments: list[tuple[str, float]],
                 people: int | None = None, noise: float = 4.0, shake: float = 1.5):
        self.rng = np.random.default_rng(seed)
        self.width, self.height, self.fps = width, height, fps
        self.segments = segments
        self.noise, self.shake = noise, shake
        self.margin = max(4, int(round(shake * 4)))
        self.background = self._background()
        kinds = {k for k, _ in segments}
        if people is None:
            people = 3 if "cross" in kinds else (int(self.rng.integers(2, 4)) if kinds & FIGHT_KINDS else
                                                 (2 if "talk" in kinds else int(self.rng.integers(1, 3))))
        self.people = [self._person(i, people) for i in range(people)]
        self.shake_xy = np.zeros(2)
        self.brightness = 1.0
        self.frame_index = 0

    # --- set-up -------------------------------------------------------------------------------

    def _background(self) -> np.ndarray:
        r = self.rng
        w, h = self.width + 2 * self.margin, self.height + 2 * self.margin
        horizon = int(h * r.uniform(0.35, 0.55))
        wall = r.integers(40, 200, size=3)
        floor = r.integers(30, 160, size=3)
        img = np.zeros((h, w, 3), np.float32)
        ys = np.linspace(0, 1, horizon)[:, None, None]
        img[:horizon] = wall * (0.8 + 0.3 * ys)
        ys = np.linspace(0, 1, h - horizon)[:, None, None]
        img[horizon:] = floor * (0.9 + 0.25 * ys)
        pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(pil)
        for _ in range(int(r.integers(3, 9))):  # windows, doors, signs, parked things
            x0, y0 = int(r.integers(0, w)), int(r.integers(0, max(1, horizon)))
            bw, bh = int(r.integers(w // 20, w // 5)), int(r.integers(h // 15, h // 3))
            d.rectangle([x0, y0, x0 + bw, y0 + bh], fill=tuple(int(c) for c in r.integers(0, 255, size=3)))
        for _ in range(int(r.integers(2, 6))):  # floor markings
            y0 = int(r.integers(horizon, h))
            d.line([0, y0, w, y0 + int(r.integers(-h // 10, h // 10))],
                   fill=tuple(int(c) for c in r.integers(60, 255, size=3)), width=int(r.integers(1, 4)))
        self.horizon = horizon
        return np.asarray(pil, np.float32)

    def _person(self, i: int, n: int) -> Person:
        r = self.rng
        h = self.height * r.uniform(0.32, 0.48)
        y = self.margin + self.height * r.uniform(0.78, 0.95)
        direction = 1.0 if r.random() < 0.5 else -1.0
        # Spread people across the frame; fighters start apart and close in.
        x = self.margin + self.width * (0.15 + 0.7 * (i + r.uniform(0.2, 0.8)) / n)
        color = tuple(int(c) for c in r.integers(0, 256, size=3))
        if sum(color) < 150:  # keep figures visible on dark walls
            color = tuple(min(255, c + 120) for c in color)
        return Person(x=x, y=y, height=h, color=color, direction=direction,
                      speed=r.uniform(0.35, 0.6), phase=r.uniform(0, 2 * math.pi))

    # --- behaviour ----------------------------------------------------------------------------

    def segment_at(self, t: float) -> str:
        acc = 0.0
        for kind, dur in self.segments:
            acc += dur
            if t < acc:
                return kind
        return self.segments[-1][0]

    @property
    def duration(self) -> float:
        return sum(d for _, d in self.segments)

    @property
    def frame_count(self) -> int:
        return int(round(self.duration * self.fps))

    def _walk(self, p: Person, t: float, dt: float, run: bool) -> None:
        speed = p.speed * (2.4 if run else 1.0)
        freq = 2.8 if run else 1.7
        amp = 40 if run else 24
        p.x += p.direction * speed * p.height * dt
        lo, hi = self.margin + p.height * 0.2, self.margin + self.width - p.height * 0.2
        if p.x < lo or p.x > hi:  # turn around at the edges
            p.direction *= -1
            p.x = min(max(p.x, lo), hi)
        s = math.sin(2 * math.pi * freq * t + p.phase)
        p.legs = [amp * s, -amp * s]
        p.knees = [max(0.0, 30 * s) if run else max(0.0, 15 * s), max(0.0, -30 * s) if run else max(0.0, -15 * s)]
        p.arms = [-amp * 0.8 * s, amp * 0.8 * s]
        p.elbows = [35.0 if run else 10.0] * 2
        p.tilt = _lerp(p.tilt, 8.0 * p.direction if run else 0.0, 0.2)

    def _stand(self, p: Person, t: float, gesture: float = 0.0) -> None:
        s = math.sin(2 * math.pi * 0.4 * t + p.phase)
        p.legs = [6.0, -6.0]
        p.knees = [0.0, 0.0]
        g = gesture * math.sin(2 * math.pi * 1.1 * t + p.phase)
        p.arms = [8 + 3 * s + g * 20, -8 - 3 * s]
        p.elbows = [10 + g * 40, 10.0]
        p.tilt = _lerp(p.tilt, 2 * s, 0.2)

    def _wave(self, p: Person, t: float) -> None:
        self._stand(p, t)
        p.arms[1] = -150.0
        p.elbows[1] = -30 * math.sin(2 * math.pi * 2.0 * t + p.phase)

    def _fight(self, p: Person, t: float, dt: float, others: list[Person], allow_fall: bool) -> None:
        r = self.rng
        if p.fallen_at is not None:  # lies on the ground, limbs twitching
            p.tilt = _lerp(p.tilt, 90.0 * p.direction, 0.35)
            p.arms = [a + r.normal(0, 6) for a in p.arms]
            return
        target = min(others, key=lambda o: abs(o.x - p.x)) if others else None
        if target is not None:
            p.direction = 1.0 if target.x > p.x else -1.0
            gap = abs(target.x - p.x)
            want = p.height * 0.35
            # Close in fast, then lunge and shove erratically around contact distance.
            p.x += p.direction * (gap - want) * min(1.0, 6 * dt) + r.normal(0, p.height * 0.03)
        if t >= p.next_move:
            p.next_move = t + r.uniform(0.08, 0.25)
            punch = r.random()
            fwd = 90 * p.direction
            p.targets = {
                "arms": [fwd * r.uniform(0.7, 1.2) if punch < 0.5 else r.uniform(-170, 170),
                         fwd * r.uniform(0.7, 1.2) if punch >= 0.5 else r.uniform(-170, 170)],
                "elbows": [r.uniform(-20, 120), r.uniform(-20, 120)],
                "legs": [r.uniform(-30, 30), (fwd * r.uniform(0.5, 1.0)) if r.random() < 0.25 else r.uniform(-30, 30)],
                "knees": [r.uniform(0, 70), r.uniform(0, 70)],
                "tilt": r.uniform(-25, 25),
            }
        k = min(1.0, 18 * dt)
        for name in ("arms", "elbows", "legs", "knees"):
            cur = getattr(p, name)
            setattr(p, name, [_lerp(c, g, k) for c, g in zip(cur, p.targets[name])])
        p.tilt = _lerp(p.tilt, p.targets["tilt"], k)
        if allow_fall and r.random() < 0.6 * dt:
            p.fallen_at = t

    def step(self, t: float, dt: float) -> None:
        kind = self.segment_at(t)
        fighting = kind in FIGHT_KINDS
        for i, p in enumerate(self.people):
            if not fighting:
                if p.fallen_at is not None:  # gets up after the fight
                    p.fallen_at = None
                p.tilt = _lerp(p.tilt, 0.0, 0.1)
            if kind in ("walk", "cross"):
                self._walk(p, t, dt, run=False)
            elif kind == "run":
                self._walk(p, t, dt, run=True)
            elif kind == "stand":
                self._stand(p, t)
            elif kind == "wave":
                self._wave(p, t) if i == 0 else self._stand(p, t)
            elif kind == "talk":
                if len(self.people) > 1:  # face each other at conversation distance
                    other = self.people[1 - i] if i < 2 else self.people[0]
                    p.direction = 1.0 if other.x > p.x else -1.0
                    p.x += p.direction * (abs(other.x - p.x) - p.height * 0.7) * min(1.0, 1.5 * dt)
                self._stand(p, t, gesture=0.6)
            elif fighting:
                others = [o for o in self.people if o is not p]
                # Falls only in fight_fall scenes, and never the last person standing.
                standing = sum(o.fallen_at is None for o in self.people)
                self._fight(p, t, dt, others, allow_fall=(kind == "fight_fall" and standing > 1 and i == 0))
            else:
                raise ValueError(f"unknown segment kind {kind!r}")
        # Camera shake: a damped random walk; lighting flicker: a slow random walk.
        self.shake_xy = 0.85 * self.shake_xy + self.rng.normal(0, self.shake, 2)
        self.brightness = float(np.clip(self.brightness + self.rng.normal(0, 0.01), 0.85, 1.15))

    # --- drawing ------------------------------------------------------------------------------

    def _draw_person(self, d: ImageDraw.ImageDraw, p: Person) -> None:
        h = p.height
        lw = max(2, int(round(h / 22)))
        tilt = math.radians(p.tilt)

        def rot(dx: float, dy: float) -> tuple[float, float]:
            # Rotate around the feet by the body tilt (positive tilt leans right).
            c, s = math.cos(tilt), math.sin(tilt)
            return p.x + dx * c - dy * s, p.y + dx * s + dy * c

        hip = (0.0, -0.47 * h)
        neck = (0.0, -0.80 * h)

        def limb(origin, angle, elbow, l1, l2):
            a = math.radians(angle)
            j = (origin[0] + l1 * math.sin(a), origin[1] + l1 * math.cos(a))
            b = math.radians(angle + elbow)
            e = (j[0] + l2 * math.sin(b), j[1] + l2 * math.cos(b))
            d.line([rot(*origin), rot(*j), rot(*e)], fill=p.color, width=lw, joint="curve")

        for i in range(2):
            limb(hip, p.legs[i], -p.knees[i] * p.direction, 0.25 * h, 0.24 * h)
        d.line([rot(*hip), rot(*neck)], fill=p.color, width=lw + 1)
        for i in range(2):
            limb(neck, p.arms[i], p.elbows[i] * p.direction, 0.17 * h, 0.16 * h)
        cx, cy = rot(0.0, -0.89 * h)
        rr = 0.09 * h
        d.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=p.color)

    def render(self) -> np.ndarray:
        """The next frame, H x W x 3 uint8 RGB."""
        t = self.frame_index / self.fps
        self.step(t, 1.0 / self.fps)
        self.frame_index += 1
        canvas = Image.fromarray(self.background.astype(np.uint8))
        d = ImageDraw.Draw(canvas)
        for p in sorted(self.people, key=lambda p: p.y):
            self._draw_person(d, p)
        img = np.asarray(canvas, np.float32) * self.brightness
        img += self.rng.normal(0, self.noise, img.shape).astype(np.float32)
        ox = int(round(self.margin + self.shake_xy[0]))
        oy = int(round(self.margin + self.shake_xy[1]))
        ox = min(max(ox, 0), 2 * self.margin)
        oy = min(max(oy, 0), 2 * self.margin)
        img = img[oy:oy + self.height, ox:ox + self.width]
        return np.clip(img, 0, 255).astype(np.uint8)

    def frames(self):
        for _ in range(self.frame_count):
            yield self.render()
