import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff";

/** mulberry32: a small seeded generator, so the tests are the same on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("Backoff", () => {
  it("doubles from the base up to the cap, jittered between half and all of each step", () => {
    const low = new Backoff(500, 30_000, () => 0);
    const high = new Backoff(500, 30_000, () => 0.999999);
    const lows = Array.from({ length: 10 }, () => low.next());
    const highs = Array.from({ length: 10 }, () => high.next());
    expect(lows).toEqual([250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000, 15000]);
    expect(highs).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  });

  it("spreads consoles that lost the same server", () => {
    const rng = seeded(42);
    const delays = Array.from({ length: 50 }, () => {
      const b = new Backoff(500, 30_000, rng);
      b.next();
      b.next();
      return b.next(); // third try: 1000..2000 ms
    });
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2000);
    expect(new Set(delays).size).toBeGreaterThan(30);
  });

  it("starts over after a reset and does not overflow after many tries", () => {
    const b = new Backoff(500, 30_000, () => 1);
    for (let i = 0; i < 2000; i++) b.next();
    expect(b.next()).toBe(30_000);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(500);
  });

  it("spreads consoles over seconds when the server itself went away", () => {
    const rng = seeded(7);
    const delays = Array.from({ length: 200 }, () => new Backoff(500, 30_000, rng).nextAfterServerLeft());
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(250);
    expect(Math.max(...delays)).toBeLessThanOrEqual(3_500);
    // Spread over seconds, not bunched in the first half second.
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(2_500);
    expect(delays.filter((d) => d <= 500).length).toBeLessThan(60);
  });
});
