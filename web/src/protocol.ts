// The WebSocket protocol (docs/protocol.md), as the console speaks it. Messages from the
// server are checked before use: a malformed one becomes a ProtocolError, never a crash.

export type AlertStatus = "active" | "ended" | "acknowledged";

export interface FightAlert {
  type: "fight_alert";
  id: string;
  seq: number;
  camera: string;
  site: string;
  label: string;
  score: number;
  started_at: number;
  snapshot_url: string | null;
  source: string;
}

/** An alert as the REST API returns it (`GET /api/alerts`, `GET /api/alerts/{id}`): the
 * `fight_alert` fields (less the event's own) and the alert's current state. */
export interface AlertRecord extends Omit<FightAlert, "type" | "snapshot_url"> {
  peak_score: number;
  status: AlertStatus;
  ended_at: number | null;
  acked_by: string | null;
  note: string | null;
  /** Snapshot file name on the server, when there is one (served at `/api/alerts/{id}/snapshot.jpg`). */
  snapshot: string | null;
}

export interface AlertUpdate {
  type: "alert_update";
  id: string;
  seq: number;
  /** Null in events stored by servers that did not name the camera yet. */
  camera?: string | null;
  site?: string | null;
  status: AlertStatus;
  peak_score: number;
  ended_at: number | null;
  acked_by: string | null;
  note: string | null;
}

export interface ChatMessage {
  type: "receive_message";
  seq: number;
  room: string;
  from: string;
  text: string;
  at: number;
}

export interface WelcomeMessage {
  type: "welcome_message";
  session: string;
  user: string;
  role: string;
  server_version: string;
  last_seq: number;
}

export interface CameraStatus {
  type: "camera_status";
  camera: string;
  site: string;
  status: string;
  error: string | null;
  since: number;
}

export interface CameraMetrics {
  camera: string;
  capture_fps: number;
  inference_fps: number;
  inference_ms: number;
  dropped_frames: number;
  queue_depth: number;
}

export interface MetricUpdate {
  type: "metric_update";
  at: number;
  cameras: CameraMetrics[];
  cpu_percent: number;
  rss_bytes: number;
  clients: number;
}

export interface ServerError {
  type: "error";
  code: string;
  message: string;
}

export type ServerMessage =
  | WelcomeMessage
  | FightAlert
  | AlertUpdate
  | ChatMessage
  | CameraStatus
  | MetricUpdate
  | ServerError;

/** Events the server stores and numbers; the ones a reconnecting console resumes. */
export type SeqEvent = FightAlert | AlertUpdate | ChatMessage;

export type ClientMessage =
  | { type: "join_room"; room: string }
  | { type: "leave_room"; room: string }
  | { type: "resume"; after_seq: number }
  | { type: "ack_alert"; id: string; note?: string }
  | { type: "send_message"; room: string; text: string }
  | { type: "private_message"; to: string; text: string };

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

type Shape = Record<string, "string" | "number" | "string?" | "number?" | "array">;

const SHAPES: Record<ServerMessage["type"], Shape> = {
  welcome_message: { session: "string", user: "string", role: "string", last_seq: "number" },
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
  },
  alert_update: {
    id: "string",
    seq: "number",
    camera: "string?",
    site: "string?",
    status: "string",
    peak_score: "number",
    ended_at: "number?",
    acked_by: "string?",
    note: "string?",
  },
  receive_message: { seq: "number", room: "string", from: "string", text: "string", at: "number" },
  camera_status: { camera: "string", site: "string", status: "string", error: "string?", since: "number" },
  metric_update: { at: "number", cameras: "array", cpu_percent: "number", rss_bytes: "number", clients: "number" },
  error: { code: "string", message: "string" },
};

const STATUSES: readonly string[] = ["active", "ended", "acknowledged"];

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
  const shape = SHAPES[type as ServerMessage["type"]];
  for (const [field, kind] of Object.entries(shape)) {
    const v = msg[field];
    const optional = kind.endsWith("?");
    if (optional && (v === null || v === undefined)) {
      msg[field] = null;
      continue;
    }
    const want = optional ? kind.slice(0, -1) : kind;
    const ok = want === "array" ? Array.isArray(v) : typeof v === want && (want !== "number" || Number.isFinite(v));
    if (!ok) throw new ProtocolError(`${type}.${field}: expected ${kind}, got ${JSON.stringify(v)}`);
  }
  if (type === "alert_update" && !STATUSES.includes(msg.status as string)) {
    throw new ProtocolError(`alert_update.status: unknown status ${JSON.stringify(msg.status)}`);
  }
  return msg as unknown as ServerMessage;
}

/** The seq of a stored event, or null for live-only messages. */
export function seqOf(msg: ServerMessage): number | null {
  return msg.type === "fight_alert" || msg.type === "alert_update" || msg.type === "receive_message"
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
