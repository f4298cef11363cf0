// The report `fightwatch tune` leaves in the data directory (GET /api/tune, admins).

import type { TuneCandidate, TuneProposal, TuneReport } from "./generated/protocol";

/** The report's wire types, generated from crates/protocol. */
export type { TuneCandidate as Candidate, TuneProposal as Proposal, TuneReport };

/** "0.60 × 2 windows". */
export function setting(c: TuneCandidate): string {
  return `${c.start_threshold.toFixed(2)} × ${c.min_windows} window${c.min_windows === 1 ? "" : "s"}`;
}

/** What a setting would raise, in words. */
export function outcome(c: TuneCandidate, p: TuneProposal): string {
  return `${c.fights_raised}/${p.fights} fights, ${c.false_alarms_raised}/${p.false_alarms} false alarms`;
}
