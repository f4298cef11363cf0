// The report `fightwatch tune` leaves in the data directory (GET /api/tune, admins).

/** How one setting does on the verdicts. */
export interface Candidate {
  start_threshold: number;
  min_windows: number;
  fights_raised: number;
  false_alarms_raised: number;
}

/** One camera's proposal. */
export interface Proposal {
  camera: string;
  fights: number;
  false_alarms: number;
  current: Candidate;
  proposed: Candidate;
  changed: boolean;
  /** `tune-CAMERA.png`, served at /api/tune/{plot}. */
  plot: string;
}

export interface TuneReport {
  generated_at: number;
  samples: number;
  without_clip: number;
  tests: number;
  unknown_cameras: Record<string, number>;
  applied: boolean;
  proposals: Proposal[];
}

/** "0.60 × 2 windows". */
export function setting(c: Candidate): string {
  return `${c.start_threshold.toFixed(2)} × ${c.min_windows} window${c.min_windows === 1 ? "" : "s"}`;
}

/** What a setting would raise, in words. */
export function outcome(c: Candidate, p: Proposal): string {
  return `${c.fights_raised}/${p.fights} fights, ${c.false_alarms_raised}/${p.false_alarms} false alarms`;
}
