// Test doubles and sample messages shared by the unit tests (not part of the bundle: nothing
// the console imports reaches this file).

import type { SocketLike } from "./connection";
import type { AlertRecord, AlertStatus, FightAlert } from "./protocol";

/** A WebSocket stand-in that a test drives by hand. */
export class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  /** Frames the client sent, as text. */
  sent: string[] = [];
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(data);
  }
  /** The frames the client sent, parsed. */
  sentJson(): Record<string, unknown>[] {
    return this.sent.map((f) => JSON.parse(f) as Record<string, unknown>);
  }
  close() {
    this.readyState = 3;
  }
  /** The server accepts: open, then its welcome at `lastSeq`. */
  open(lastSeq: number) {
    this.readyState = 1;
    this.onopen?.({});
    this.frame({ type: "welcome_message", session: "s", user: "ops", role: "operator", server_version: "0.1.0", last_seq: lastSeq });
  }
  frame(msg: object | string) {
    this.onmessage?.({ data: typeof msg === "string" ? msg : JSON.stringify(msg) });
  }
  drop(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

/** The `fight_alert` of alert `a{seq}` on camera lobby. */
export function fightAlert(seq: number): FightAlert {
  return {
    type: "fight_alert",
    id: `a${seq}`,
    seq,
    camera: "lobby",
    site: "hq",
    label: "fight",
    score: 0.8,
    started_at: seq * 1000,
    snapshot_url: `/api/alerts/a${seq}/snapshot.jpg`,
    source: "pipeline",
    region: [0.5, 0.4, 0.9, 1],
    heatmap_url: `/api/alerts/a${seq}/heatmap.jpg`,
  };
}

/** Alert `a{seq}` as REST returns it, in `status` (a snapshot only while active). */
export function alertRecord(seq: number, status: AlertStatus = "active"): AlertRecord {
  return {
    id: `a${seq}`,
    seq,
    camera: "lobby",
    site: "hq",
    label: "fight",
    score: 0.8,
    peak_score: 0.85,
    status,
    started_at: seq * 1000,
    ended_at: status === "active" ? null : 4000,
    acked_by: null,
    note: null,
    snapshot: status === "active" ? "snap.jpg" : null,
    heatmap: null,
    region: null,
    source: "pipeline",
    clip: null,
    assignee: null,
    outcome: null,
    reason: null,
    resolved_by: null,
    escalations: 0,
    count: 1,
    last_seen_at: null,
  };
}
