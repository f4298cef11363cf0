import { describe, expect, it } from "vitest";
import { outcome, setting, type Proposal } from "./tuning";

describe("tuning", () => {
  const now = { start_threshold: 0.6, min_windows: 2, fights_raised: 3, false_alarms_raised: 1 };
  const p: Proposal = {
    camera: "gym",
    fights: 3,
    false_alarms: 1,
    current: now,
    proposed: { ...now, start_threshold: 0.9, false_alarms_raised: 0 },
    changed: true,
    candidates: [now],
    plot: "tune-gym.png",
  };
  it("says settings and what they raise", () => {
    expect(setting(p.current)).toBe("0.60 × 2 windows");
    expect(setting({ ...now, min_windows: 1 })).toBe("0.60 × 1 window");
    expect(outcome(p.proposed, p)).toBe("3/3 fights, 0/1 false alarms");
  });
});
