// The WebSocket protocol (docs/protocol.md), as the console speaks it. Messages from the
// server are checked before use: a malformed one becomes a ProtocolError, never a crash.

import type * as wire from "./generated/protocol";
import type { ServerMessage } from "./generated/protocol";

// The wire types are generated from the server's Rust types (crates/protocol, ts-rs) into
// ./generated/protocol.ts; here they get the names the console uses.
export type {
  AlertRecord,
  AlertStatus,
  CameraMetrics,
  ClientMessage,
  ClipInfo,
  FalseAlarmReason,
  Outcome,
  Role,
  ServerMessage,
} from "./generated/protocol";

type Tagged<T extends wire.ServerMessage["type"]> = Extract<wire.ServerMessage, { type: T }>;
export type WelcomeMessage = Tagged<"welcome_message">;
export type FightAlert = Tagged<"fight_alert">;
export type AlertUpdate = Tagged<"alert_update">;
export type AlertEscalated = Tagged<"alert_escalated">;
export type ChatMessage = Tagged<"receive_message">;
export type CameraStatusMessage = Tagged<"camera_status">;
export type MetricUpdate = Tagged<"metric_update">;
export type ServerError = Tagged<"error">;

/** Events the server stores and numbers; the ones a reconnecting console resumes. */
export type SeqEvent = FightAlert | AlertUpdate | AlertEscalated | ChatMessage;

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

type Kind = "string" | "number" | "string?" | "number?" | "array" | "clip?" | "region?";
/** Every field of a message but its type tag, each with the kind it must have: the compiler
 * holds this list to the generated types, so a field the server adds or renames fails the
 * build until it is checked here too. */
type Shape<M> = { [F in Exclude<keyof M, "type">]-?: Kind };

const SHAPES: { [T in wire.ServerMessage["type"]]: Shape<Tagged<T>> } = {
  welcome_message: { session: "string", user: "string", role: "string", server_version: "string", last_seq: "number" },
  fight_alert: {
    id: "string",
    seq: "number",
    camera: "string",
    site: "string",
    label: "string",
    score: "number",
    started_at: "number",
    snapshot_url: "string?",
    source: "string",
    region: "region?",
    heatmap_url: "string?",
  },
  alert_update: {
    id: "string",
    seq: "number",
    camera: "string",
    site: "string",
    status: "string",
    peak_score: "number",
    ended_at: "number?",
    acked_by: "string?",
    note: "string?",
    clip: "clip?",
    exported_by: "string?",
    assignee: "string?",
    outcome: "string?",
    reason: "string?",
    resolved_by: "string?",
    count: "number?",
    detection_snapshot_url: "string?",
    detection_clip: "clip?",
    detection_clip_url: "string?",
  },
  alert_escalated: { id: "string", seq: "number", camera: "string", site: "string", level: "number", waiting_s: "number" },
  receive_message: { seq: "number", room: "string", from: "string", text: "string", at: "number" },
  camera_status: { camera: "string", site: "string", status: "string", error: "string?", since: "number", node: "string?" },
  metric_update: { at: "number", cameras: "array", cpu_percent: "number", rss_bytes: "number", clients: "number", node: "string?" },
  error: { code: "string", message: "string" },
};

const STATUSES: readonly string[] = ["active", "ended", "acknowledged", "resolved"];
const OUTCOMES: readonly string[] = ["confirmed", "false_alarm", "test"];

/** The fields of an alert's clip, checked like a message's. */
const CLIP: Record<keyof wire.ClipInfo, Exclude<Kind, "array" | "clip?" | "region?">> = {
  file: "string",
  duration_ms: "number",
  bytes: "number",
  sha256: "string",
  method: "string",
  start_ms: "number",
  peak_ms: "number?",
  end_ms: "number?",
};

/** A region: `[x0, y0, x1, y1]`, four numbers in 0–1 with x0 ≤ x1 and y0 ≤ y1. */
export function isRegion(x: unknown): x is [number, number, number, number] {
  return (
    Array.isArray(x) &&
    x.length === 4 &&
    x.every((v) => typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= 1) &&
    x[0] <= x[2] &&
    x[1] <= x[3]
  );
}

/** Checks `v` against a shape; the first wrong field's complaint, or null. */
function check(where: string, v: Record<string, unknown>, shape: Record<string, Kind>): string | null {
  for (const [field, kind] of Object.entries(shape)) {
    const x = v[field];
    const optional = kind.endsWith("?");
    if (optional && (x === null || x === undefined)) {
      v[field] = null;
      continue;
    }
    const want = optional ? kind.slice(0, -1) : kind;
    let ok: boolean;
    if (want === "array") ok = Array.isArray(x);
    else if (want === "region") ok = isRegion(x);
    else if (want === "clip") {
      ok = typeof x === "object" && x !== null && !Array.isArray(x);
      const inner = ok ? check(`${where}.${field}`, x as Record<string, unknown>, CLIP) : null;
      if (inner) return inner;
    } else ok = typeof x === want && (want !== "number" || Number.isFinite(x));
    if (!ok) return `${where}.${field}: expected ${kind}, got ${JSON.stringify(x)}`;
  }
  return null;
}

/** Parses one text frame from the server. Unknown fields are kept (newer servers may add
 * some); a missing or mistyped field, or an unknown type, is a ProtocolError. */
export function parseServerMessage(text: string): ServerMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError(`not JSON: ${text.slice(0, 80)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("a message must be a JSON object");
  }
  const msg = value as Record<string, unknown>;
  const type = msg.type;
  if (typeof type !== "string" || !(type in SHAPES)) {
    throw new ProtocolError(`unknown message type ${JSON.stringify(type)}`);
  }
  const shape: Record<string, Kind> = SHAPES[type as wire.ServerMessage["type"]];
  const problem = check(type, msg, shape);
  if (problem) throw new ProtocolError(problem);
  if (type === "alert_update" && !STATUSES.includes(msg.status as string)) {
    throw new ProtocolError(`alert_update.status: unknown status ${JSON.stringify(msg.status)}`);
  }
  if (type === "alert_update" && msg.outcome !== null && !OUTCOMES.includes(msg.outcome as string)) {
    throw new ProtocolError(`alert_update.outcome: unknown outcome ${JSON.stringify(msg.outcome)}`);
  }
  return msg as unknown as ServerMessage;
}

/** The seq of a stored event, or null for live-only messages. */
export function seqOf(msg: ServerMessage): number | null {
  return msg.type === "fight_alert" ||
    msg.type === "alert_update" ||
    msg.type === "alert_escalated" ||
    msg.type === "receive_message"
    ? msg.seq
    : null;
}

/** The `dm:A:B` room of two people (names sorted), as the server names it. */
export function privateRoom(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

/** The other person of a `dm:` room, or null when `room` is not `me`'s conversation. */
export function otherParticipant(room: string, me: string): string | null {
  if (!room.startsWith("dm:")) return null;
  const [a, b] = room.slice(3).split(":");
  if (a === me) return b ?? null;
  if (b === me) return a ?? null;
  return null;
}

/** The console's chat room for a site, or `all` (`site:` rooms would narrow the alert feed). */
export function siteChatRoom(site: string): string {
  return `chat:${site}`;
}
